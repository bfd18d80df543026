package main

import (
	"context"
	"fmt"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helpdesk/core"
	"helpdesk/core/coretest"
	"helpdesk/mailout/mailouttest"
)

// pipeConfig writes a config for pipe delivery into a directory anyone may
// read (Postfix runs alias commands as nobody). Its SMTP password file
// does not exist: pipe must not need it.
func pipeConfig(t *testing.T, url string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "helpdesk-pipe") // t.TempDir's parent is private
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	path := filepath.Join(dir, "helpdesk.toml")
	cfg := fmt.Sprintf(`database_url = %q
domain = "desk.test"
secret = "pipe-secret"

[smtp]
host = "127.0.0.1"
port = 25
tls = "none"
user = "desk"
password_file = "/nonexistent/smtp-password"
from = "Support <support@desk.test>"
`, url)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, "", "migrate", "-config", path); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	return path
}

// A private Postfix delivers to `helpdesk pipe` through an alias, as the
// README says to set it up: local(8)'s envelope line and headers in front,
// run as nobody, with an SMTP password file pipe cannot read.
func TestPipeThroughPostfixLocal(t *testing.T) {
	url := coretest.URL(t)
	cfg := pipeConfig(t, url)
	bin := helpdeskBinary(t)
	os.Chmod(filepath.Dir(bin), 0o755)
	mx := mailouttest.StartPostfix(t, mailouttest.Postfix{
		Aliases: []string{fmt.Sprintf(`support: "|%s pipe --config %s --mailbox support"`, bin, cfg)},
	})
	msg := "From: \"Doe, John\" <john@example.com>\r\nTo: support@desk.test\r\nSubject: Printer on fire\r\n" +
		"Message-ID: <postfix-pipe@example.com>\r\n\r\nIt smokes.\r\nFrom here on it is worse.\r\n"
	if err := smtp.SendMail(mx, nil, "john@example.com", []string{"support@desk.test"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	s, err := core.Open(context.Background(), url, core.Options{Domain: "desk.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var list []core.Ticket
	for deadline := time.Now().Add(20 * time.Second); len(list) == 0 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		if list, err = s.ListTickets(context.Background(), core.TicketFilter{}); err != nil {
			t.Fatal(err)
		}
	}
	if len(list) != 1 {
		q, _ := s.QuarantineList(context.Background())
		t.Fatalf("%d tickets after Postfix delivered (quarantine: %+v), want 1", len(list), q)
	}
	tk := list[0]
	if tk.Subject != "Printer on fire" || tk.Customer.Name != "Doe, John" || tk.Customer.Email != "john@example.com" {
		t.Errorf("ticket %q from %+v", tk.Subject, tk.Customer)
	}
	th, err := s.ShowTicket(context.Background(), tk.Number)
	if err != nil {
		t.Fatal(err)
	}
	if body := th.Entries[len(th.Entries)-1].Body; !strings.Contains(body, "\nFrom here on it is worse.") {
		t.Errorf("body %q lost its \"From \" line", body)
	}
}

// NUL bytes reach pipe unchanged (Dovecot would have replaced them): the
// ticket is opened with them dropped from the text (in a one-line value
// such as the subject, a control character becomes a space), not refused
// by PostgreSQL.
func TestPipeNUL(t *testing.T) {
	cfg := pipeConfig(t, coretest.URL(t))
	msg := "From: Nul <nul@example.com>\r\nSubject: Null\x00byte\r\nMessage-ID: <nul-pipe@example.com>\r\n\r\nA \x00 NUL.\r\n"
	if out, err := runCLI(t, msg, "pipe", "-config", cfg); err != nil {
		t.Fatalf("pipe: exit %d: %v\n%s", exitCode(err), err, out)
	}
	out, err := runCLI(t, "", "ticket", "show", "1001", "-config", cfg)
	if err != nil {
		t.Fatalf("ticket show: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Null byte") || !strings.Contains(out, "A  NUL.") || strings.Contains(out, "\x00") {
		t.Errorf("ticket:\n%q", out)
	}
}
