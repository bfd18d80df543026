package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helpdesk/core"
)

func (r *rig) store() *core.Store {
	r.t.Helper()
	cfg, err := LoadConfig(r.config)
	if err != nil {
		r.t.Fatal(err)
	}
	s, err := core.Open(context.Background(), cfg.DatabaseURL, cfg.StoreOptions())
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(s.Close)
	return s
}

func TestImportBacklogWithoutAcknowledging(t *testing.T) {
	r := newRig(t)
	c := r.support.Dial(t)
	bounce, err := os.ReadFile("../../mailin/testdata/machine/lhost-postfix-01.eml")
	if err != nil {
		t.Fatal(err)
	}
	r.support.Append(t, c, "INBOX", customerMail("Old One <old1@example.org>", "support@desk.test", "Old question", "old-1@example.org", "From last year."))
	r.support.Append(t, c, "INBOX", customerMail("Old Two <old2@example.org>", "support@desk.test", "Another", "old-2@example.org", "Also old."))
	r.support.Append(t, c, "INBOX", bounce)
	r.cli("migrate")
	out := r.cli("import", "--mailbox", "support")
	if !strings.Contains(out, "imported 3 messages from support: 2 new tickets, 0 replies, 1 machine mails") {
		t.Errorf("import summary: %q", out)
	}
	st, err := r.store().OutboxStats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending != 0 {
		t.Errorf("%d mails queued by an import, want none", st.Pending)
	}
	// The daemon starts after the backlog: only new mail is acknowledged.
	r.start()
	r.support.Append(t, c, "INBOX", customerMail("New <new@example.org>", "support@desk.test", "Fresh", "new-1@example.org", "Today."))
	r.waitTickets(3)
	if got := len(r.mailsTo("new@example.org", 1)); got != 1 {
		t.Errorf("new mail got %d acknowledgements, want 1", got)
	}
	time.Sleep(time.Second)
	if got := len(r.mailsTo("old1@example.org", 0)); got != 0 {
		t.Errorf("imported mail was acknowledged %d times", got)
	}
}

func TestExplainWritesNothing(t *testing.T) {
	r := newRig(t)
	c := r.support.Dial(t)
	r.start()
	r.support.Append(t, c, "INBOX", customerMail("Jane <jane@example.org>", "support@desk.test", "Portal 404", "jane-9@example.org", "Down."))
	list := r.waitTickets(1)
	r.kill(9)
	dir := t.TempDir()
	reply := filepath.Join(dir, "reply.eml")
	os.WriteFile(reply, []byte("From: Jane <jane@example.org>\r\nTo: support@desk.test\r\nSubject: Re: Portal 404\r\n"+
		"Message-ID: <jane-10@example.org>\r\nIn-Reply-To: <jane-9@example.org>\r\n\r\nStill down.\r\n"), 0o600)
	before, _ := r.store().OutboxStats(context.Background())
	out := r.cli("explain", reply)
	if !strings.Contains(out, fmt.Sprintf("joins ticket [#%d] by references", list[0].Number)) || !strings.Contains(out, "Class:    human") {
		t.Errorf("explain reply:\n%s", out)
	}
	var js map[string]any
	if err := json.Unmarshal([]byte(r.cli("explain", "--json", "../../mailin/testdata/machine/rfc3464-01.eml")), &js); err != nil {
		t.Fatal(err)
	}
	if js["class"] != "bounce" {
		t.Errorf("explain bounce: %v", js)
	}
	after, _ := r.store().OutboxStats(context.Background())
	if n := len(r.tickets("")); n != 1 || after.Pending != before.Pending || after.Failed != before.Failed {
		t.Errorf("explain wrote something: %d tickets, outbox %+v → %+v", n, before, after)
	}
	th := r.show(list[0].Number)
	if len(th.Entries) != 3 {
		t.Errorf("explain changed the thread: %d entries", len(th.Entries))
	}
}

func TestQuarantineListShowRetry(t *testing.T) {
	r := newRig(t)
	cfg, _ := os.ReadFile(r.config)
	small := strings.Replace(string(cfg), "[smtp]", "[limits]\nmax_message_bytes = 2000\n\n[smtp]", 1)
	os.WriteFile(r.config, []byte(small), 0o600)
	r.cli("migrate")
	big := customerMail("Big <big@example.org>", "support@desk.test", "Huge log", "big-1@example.org", strings.Repeat("log line\n", 500))
	if _, err := runCLI(t, string(big), "pipe", "-config", r.config); err != nil {
		t.Fatalf("pipe of an oversized message: %v (want exit 0: quarantined, not lost)", err)
	}
	list := r.cli("quarantine", "list")
	if !strings.Contains(list, "over limit") {
		t.Fatalf("quarantine list:\n%s", list)
	}
	if raw := r.cli("quarantine", "show", "1"); raw != string(big) {
		t.Errorf("quarantine show gave %d bytes, want the %d of the raw message:\n%.300q", len(raw), len(big), raw)
	}
	if _, err := runCLI(t, "", "quarantine", "retry", "1", "-config", r.config); err == nil {
		t.Errorf("retry succeeded while the message is still over the limit")
	}
	os.WriteFile(r.config, cfg, 0o600) // the admin raises the limit
	if out := r.cli("quarantine", "retry", "1"); !strings.Contains(out, "new ticket") {
		t.Errorf("retry: %q", out)
	}
	if n := len(r.tickets("")); n != 1 {
		t.Errorf("%d tickets after retry, want 1", n)
	}
	if list := r.cli("quarantine", "list"); strings.Contains(list, "over limit") {
		t.Errorf("released message still listed:\n%s", list)
	}
}

func TestAdminActionsAreEvents(t *testing.T) {
	r := newRig(t)
	r.cli("migrate")
	msg := customerMail("Greg <greg@example.com>", "support@desk.test", "Trackpad", "greg-a@example.com", "Dead.")
	if _, err := runCLI(t, string(msg), "pipe", "-config", r.config); err != nil {
		t.Fatal(err)
	}
	n := r.tickets("")[0].Number
	id := fmt.Sprint(n)
	r.cli("ticket", "priority", id, "high", "--as", "admin@desk.test")
	r.cli("ticket", "sla", id, "SEV-B", "--as", "admin@desk.test")
	r.cli("ticket", "assign", id, "Garnet", "--as", "admin@desk.test")
	r.cli("ticket", "note", id, "Checked the driver", "--as", "garnet@desk.test")
	r.cli("ticket", "close", id, "--as", "garnet@desk.test")
	r.cli("ticket", "reopen", id, "--as", "admin@desk.test")
	if _, err := runCLI(t, "", "ticket", "close", id, "-config", r.config); exitCode(err) != 2 {
		t.Errorf("close without --as: exit %d, want 2", exitCode(err))
	}
	th := r.show(n)
	got := strings.Join(events(th), ",")
	if !strings.HasSuffix(got, "priority,sla,assigned,note,closed,reopened") {
		t.Errorf("thread %s, want the six actions at the end", got)
	}
	for _, e := range th.Entries[len(th.Entries)-6:] {
		if e.Author != "Ada Admin" && e.Author != "Garnet" {
			t.Errorf("%s %s by %q, want the acting agent named", e.Kind, e.Event, e.Author)
		}
	}
}
