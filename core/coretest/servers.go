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
