package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"helpdesk/core/coretest"
)

// BenchmarkPipeMemory reports the peak RSS of `helpdesk pipe` taking in a
// 2 KB message, a 25 MB one (a PDF-sized attachment, stored as a ticket),
// a 600 MB one (over the limit: spooled into quarantine) and a 2 GB stream
// (past the hard cap: refused). Target: under 128 MB for any size.
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
	// GNU time measures the child: the rusage Go gets back from its own
	// children includes this (large) test process's memory, which the
	// child shares until it execs.
	if _, err := os.Stat("/usr/bin/time"); err != nil {
		b.Skip("needs GNU time (/usr/bin/time)")
	}
	rss := func(name string, msg io.Reader, wantExit int) int64 {
		cmd := exec.Command("/usr/bin/time", "-f", "maxrss_kb=%M", bin, "pipe", "-config", cfg)
		cmd.Stdin = msg
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if st := exitStatus(err); st != wantExit || (err != nil && st == 0) {
			b.Fatalf("pipe %s: exit %d, want %d: %v\n%s", name, st, wantExit, err, out.String())
		}
		var kb int64
		if i := strings.LastIndex(out.String(), "maxrss_kb="); i >= 0 {
			fmt.Sscan(out.String()[i+len("maxrss_kb="):], &kb)
		}
		return kb / 1024
	}
	small := "From: a@example.com\r\nMessage-ID: <small@example.com>\r\nSubject: Small\r\n\r\n" + strings.Repeat("x", 2000) + "\r\n"
	for i := 0; i < b.N; i++ {
		b.ReportMetric(float64(rss("2KB", strings.NewReader(small), 0)), "rss_2KB_MB")
		b.ReportMetric(float64(rss("25MB", attachmentMail(18<<20), 0)), "rss_25MB_MB")
		b.ReportMetric(float64(rss("600MB", attachmentMail(450<<20), 0)), "rss_600MB_MB")
		b.ReportMetric(float64(rss("2GB", attachmentMail(1536<<20), exDataErr)), "rss_2GB_MB")
	}
}

// exitStatus is a child's exit status, 0 for none.
func exitStatus(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return 0
}

// attachmentMail streams a message carrying n bytes of attachment, base64
// encoded (a third larger), without holding it.
func attachmentMail(n int64) io.Reader {
	head := "From: a@example.com\r\nMessage-ID: <big-" + strconv.FormatInt(n, 10) + "@example.com>\r\nSubject: Big\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n" +
		"See attached.\r\n--b\r\nContent-Type: application/pdf; name=log.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	line := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a, 0x17, 0xc3}, 19)) + "\r\n" // 57 bytes a line
	body := &repeatReader{line: []byte(line), n: n / 57}
	return io.MultiReader(strings.NewReader(head), body, strings.NewReader("--b--\r\n"))
}

// repeatReader yields line n times.
type repeatReader struct {
	line []byte
	n    int64
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	total := 0
	for total < len(p) {
		if r.n == 0 {
			if total == 0 {
				return 0, io.EOF
			}
			return total, nil
		}
		c := copy(p[total:], r.line[r.off:])
		total += c
		if r.off += c; r.off == len(r.line) {
			r.off, r.n = 0, r.n-1
		}
	}
	return total, nil
}
