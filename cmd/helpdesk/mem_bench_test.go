package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"helpdesk/core/coretest"
)

// BenchmarkPipeMemory reports the peak RSS of `helpdesk pipe` taking in a
// 25 MB message (a PDF-sized attachment), against a 2 KB one: the memory one
// large message adds. Target: under 64 MB.
//
//	scripts/bench PipeMemory
func BenchmarkPipeMemory(b *testing.B) {
	bin := helpdeskBinary(b)
	url := coretest.URL(b)
	dir := b.TempDir()
	cfg := filepath.Join(dir, "h.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("database_url = %q\ndomain = \"desk.test\"\n", url)), 0o600)
	if out, err := exec.Command(bin, "migrate", "-config", cfg).CombinedOutput(); err != nil {
		b.Fatalf("migrate: %v\n%s", err, out)
	}
	attachment := make([]byte, 18<<20) // base64 makes it about 25 MB
	for i := range attachment {
		attachment[i] = byte(i * 7)
	}
	big := "From: a@example.com\r\nMessage-ID: <big@example.com>\r\nSubject: Big\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n" +
		"--b\r\nContent-Type: application/pdf; name=log.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		wrap(base64.StdEncoding.EncodeToString(attachment)) + "\r\n--b--\r\n"
	small := "From: a@example.com\r\nMessage-ID: <small@example.com>\r\nSubject: Small\r\n\r\n" + strings.Repeat("x", 2000) + "\r\n"
	// GNU time measures the child: the rusage Go gets back from its own
	// children includes this (large) test process's memory, which the
	// child shares until it execs.
	if _, err := os.Stat("/usr/bin/time"); err != nil {
		b.Skip("needs GNU time (/usr/bin/time)")
	}
	rss := func(msg string) int64 {
		cmd := exec.Command("/usr/bin/time", "-f", "maxrss_kb=%M", bin, "pipe", "-config", cfg)
		cmd.Stdin = strings.NewReader(msg)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			b.Fatalf("pipe: %v\n%s", err, out.String())
		}
		var kb int64
		if i := strings.LastIndex(out.String(), "maxrss_kb="); i >= 0 {
			fmt.Sscan(out.String()[i+len("maxrss_kb="):], &kb)
		}
		return kb / 1024
	}
	for i := 0; i < b.N; i++ {
		base := rss(small)
		peak := rss(big)
		b.ReportMetric(float64(len(big))/(1<<20), "message_MB")
		b.ReportMetric(float64(base), "rss_small_MB")
		b.ReportMetric(float64(peak), "rss_25MB_MB")
		b.ReportMetric(float64(peak-base), "added_MB")
	}
}

func wrap(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76])
		b.WriteString("\r\n")
		s = s[76:]
	}
	b.WriteString(s)
	return b.String()
}
