package mailout_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helpdesk/core"
	"helpdesk/core/coretest"
	"helpdesk/mailout"
	"helpdesk/mailout/mailouttest"
)

// startPostfix runs a private Postfix on a loopback port that relays all
// mail to relayTo. It needs root and Debian's postfix package.
func startPostfix(t *testing.T, relayTo string) string {
	t.Helper()
	if _, err := exec.LookPath("postfix"); err != nil || os.Geteuid() != 0 {
		if coretest.Required() {
			t.Fatalf("postfix (and root) needed: %v", err)
		}
		t.Skip("no postfix, or not root")
	}
	dir, err := os.MkdirTemp("", "hdpf")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755) // postfix's daemons run as the postfix user
	for _, d := range []string{"conf", "queue", "data"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	exec.Command("chown", "postfix", filepath.Join(dir, "data")).Run()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	main := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
mail_owner = postfix
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.desk.test
mydomain = desk.test
myorigin = desk.test
mydestination =
relayhost = [%[2]s]:%[3]s
smtp_tls_security_level = none
smtpd_tls_security_level = none
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
maillog_file_prefixes = %[1]s
maillog_file = %[1]s/postfix.log
alias_maps =
alias_database =
local_recipient_maps =
biff = no
`, dir, strings.Split(relayTo, ":")[0], strings.Split(relayTo, ":")[1])
	os.WriteFile(filepath.Join(dir, "conf", "main.cf"), []byte(main), 0o644)
	// Debian's master.cf, with smtpd on our port and no chroot.
	master, err := os.ReadFile("/etc/postfix/master.cf")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	skip := false
	for _, line := range strings.Split(string(master), "\n") {
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "#") || line == "":
			continue
		case strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t"):
			if !skip {
				out = append(out, line)
			}
			continue
		}
		skip = len(f) > 7 && f[7] == "pipe"
		if skip {
			continue
		}
		if f[0] == "smtp" && f[1] == "inet" {
			f[0] = addr
		}
		if len(f) > 4 && f[4] == "y" {
			f[4] = "n"
		}
		out = append(out, strings.Join(f, " "))
	}
	os.WriteFile(filepath.Join(dir, "conf", "master.cf"), []byte(strings.Join(out, "\n")+"\n"), 0o644)
	conf := filepath.Join(dir, "conf")
	if b, err := exec.Command("postfix", "-c", conf, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "postfix.log"))
		t.Fatalf("start postfix: %v %s\n%s", err, b, log)
	}
	t.Cleanup(func() {
		exec.Command("postfix", "-c", conf, "stop").Run()
		os.RemoveAll(dir)
	})
	for i := 0; i < 50; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return addr
}

// TestThroughPostfix sends an acknowledgement through a real Postfix, which
// relays it to the sink, and checks the headers as delivered.
func TestThroughPostfix(t *testing.T) {
	sink := mailouttest.Start(t)
	relay := startPostfix(t, sink.Addr)
	s := coretest.SeededStore(t)
	res, err := coretest.Ingest(context.Background(), s, &core.Inbound{Mailbox: "support", MessageID: "greg-pf@example.com",
		From: core.Address{Name: "Grég Ünïcode", Email: "greg@example.com"}, Subject: "Trackpad – kaputt ✓",
		Text: "It stopped.", Class: core.ClassHuman, Raw: []byte("raw")}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The sender speaks to Postfix, which relays to the sink.
	startSender(t, s, sink, &clock{t: time.Now()}, func(snd *mailout.Sender) { snd.SMTP.Addr, snd.Conns = relay, 1 })
	var got *mailouttest.Mail
	deadline := time.Now().Add(30 * time.Second)
	for got == nil && time.Now().Before(deadline) {
		for _, m := range sink.Mails() {
			if m.To[0] == "greg@example.com" {
				got = &m
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got == nil {
		t.Fatalf("nothing reached the sink through postfix; sink has %d mails", len(sink.Mails()))
	}
	h := got.Header()
	if !strings.Contains(h.Get("Received"), "mx.desk.test") {
		t.Errorf("no Received header from postfix: %q", h.Get("Received"))
	}
	subj, _ := h.Subject()
	if want := core.SubjectTag(res.Ticket) + " Trackpad – kaputt ✓"; subj != want {
		t.Errorf("subject as delivered %q, want %q", subj, want)
	}
	to, _ := h.AddressList("To")
	if len(to) != 1 || to[0].Name != "Grég Ünïcode" {
		t.Errorf("To as delivered %v", to)
	}
	if irt, _ := h.MsgIDList("In-Reply-To"); len(irt) != 1 || irt[0] != "greg-pf@example.com" {
		t.Errorf("In-Reply-To as delivered %v", irt)
	}
	if h.Get("Auto-Submitted") != "auto-replied" || h.Get("X-Helpdesk-Loop") == "" {
		t.Errorf("loop headers lost on the way: %v", h)
	}
	if mid, _ := h.MessageID(); !strings.HasSuffix(mid, "@desk.test") {
		t.Errorf("Message-ID %q not ours", mid)
	}
}
