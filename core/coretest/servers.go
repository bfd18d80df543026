package coretest

import (
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

// RequireRootCommand skips the test (fails it under scripts/test and CI)
// unless command is installed and the test runs as root, as a private
// Dovecot or Postfix needs.
func RequireRootCommand(t testing.TB, command string) {
	t.Helper()
	if _, err := exec.LookPath(command); err != nil || os.Geteuid() != 0 {
		if Required() {
			t.Fatalf("%s (and root) needed: %v", command, err)
		}
		t.Skipf("no %s, or not root", command)
	}
}

// FreeAddr returns a loopback address nothing listens on right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// WaitListening waits up to five seconds for a server to accept on addr.
func WaitListening(t testing.TB, addr string) {
	t.Helper()
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}

// ServerDir makes the directory of a private server (Dovecot, Postfix),
// readable by the unprivileged users its workers run as.
func ServerDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	return dir
}

// StopAtCleanup stops a private server when the test ends: it shows the
// server's log if the test failed, runs stop, and removes dir.
func StopAtCleanup(t testing.TB, name, dir, log string, stop ...string) {
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(log)
			t.Logf("%s log:\n%s", name, b)
		}
		exec.Command(stop[0], stop[1:]...).Run()
		os.RemoveAll(dir)
	})
}
