package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestTwoDaemonsOneDatabase runs two daemons with the same config: one polls
// each mailbox, every message is stored once, and when the poller dies the
// other takes over within seconds.
func TestTwoDaemonsOneDatabase(t *testing.T) {
	r := newRig(t)
	c := r.support.Dial(t)
	r.start()
	for i := 0; i < 10; i++ {
		r.support.Append(t, c, "INBOX", customerMail(fmt.Sprintf("A%d <a%d@example.org>", i, i), "support@desk.test",
			fmt.Sprintf("First %d", i), fmt.Sprintf("fo-a-%d@example.org", i), "Hello."))
	}
	if n := len(r.waitTickets(10)); n != 10 {
		t.Fatalf("%d tickets, want 10", n)
	}
	// The first daemon polls; the second starts now and stands by.
	second := exec.Command(r.bin, "serve", "-config", r.config)
	var logs bytes.Buffer
	second.Stdout, second.Stderr = &logs, &logs
	second.Env = append(os.Environ(), "HELPDESK_HTTP_ADDR="+freeAddr(t))
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		second.Process.Signal(syscall.SIGKILL)
		second.Wait()
		if t.Failed() {
			t.Logf("second daemon:\n%s", logs.String())
		}
	}()
	time.Sleep(2 * time.Second)
	if bytes.Contains(logs.Bytes(), []byte("message delivered")) {
		t.Fatalf("the standby daemon took mail while the first held the mailbox")
	}
	// The polling daemon dies.
	r.kill(syscall.SIGKILL)
	start := time.Now()
	for i := 0; i < 10; i++ {
		r.support.Append(t, c, "INBOX", customerMail(fmt.Sprintf("B%d <b%d@example.org>", i, i), "support@desk.test",
			fmt.Sprintf("Second %d", i), fmt.Sprintf("fo-b-%d@example.org", i), "Hello."))
	}
	r.waitTickets(20)
	took := time.Since(start)
	time.Sleep(time.Second)
	list := r.tickets("")
	if !bytes.Contains(logs.Bytes(), []byte("message delivered")) {
		t.Errorf("the second daemon never took over")
	}
	if len(list) != 20 {
		t.Fatalf("%d tickets, want 20: every message once", len(list))
	}
	if took > 15*time.Second {
		t.Errorf("the standby daemon took %v to take over", took)
	}
	t.Logf("standby took over and caught up in %v", took.Round(100*time.Millisecond))
	for i := 0; i < 10; i++ {
		for _, who := range []string{fmt.Sprintf("a%d@example.org", i), fmt.Sprintf("b%d@example.org", i)} {
			if got := len(r.mailsTo(who, 1)); got != 1 {
				t.Errorf("%s got %d acknowledgements, want 1", who, got)
			}
		}
	}
}
