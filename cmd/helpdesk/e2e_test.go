package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"helpdesk/core"
	"helpdesk/core/coretest"
	"helpdesk/mailin/mailintest"
	"helpdesk/mailout/mailouttest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// helpdeskBinary builds the real binary once per test run.
func helpdeskBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "helpdesk-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "helpdesk")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// rig is one installation under test: a database, a Dovecot account per
// mailbox, an SMTP sink and a config file pointing at them.
type rig struct {
	t       *testing.T
	bin     string
	config  string
	support mailintest.Account
	urgent  mailintest.Account
	sink    *mailouttest.Sink
	daemon  *exec.Cmd
	logs    *bytes.Buffer
	seen    map[string]bool // Message-IDs waitSent already returned
	// httpAddr is where the daemon serves health, metrics and status pages.
	httpAddr string
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string { return coretest.FreeAddr(t) }

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, bin: helpdeskBinary(t), support: mailintest.RequireDovecot(t), sink: mailouttest.Start(t)}
	r.urgent = mailintest.NewAccount(t)
	dbURL := coretest.URL(t)
	r.httpAddr = freeAddr(t)
	host, port, _ := strings.Cut(r.support.Addr, ":")
	smtpHost, smtpPort, _ := strings.Cut(r.sink.Addr, ":")
	cfg := fmt.Sprintf(`
database_url = %q
domain = "desk.test"
secret = "e2e-secret"
log_format = "text"
http_addr = %q
stall_after = "3s"

[smtp]
host = %q
port = %s
tls = "none"
from = "Support <support@desk.test>"

[[mailboxes]]
name = "support"
address = "support@desk.test"
host = %q
port = %s
tls = "none"
user = %q
password = %q
poll_interval = "500ms"
default_topic = "SEV-C"

[[mailboxes]]
name = "emergency"
address = "emergency@desk.test"
host = %q
port = %s
tls = "none"
user = %q
password = %q
poll_interval = "500ms"
default_topic = "SEV-A"

[[routes]]
address = "emergency@desk.test"
topic = "SEV-A"

[[routes]]
match = "(?i)cannot pay"
topic = "SEV-B"

[[departments]]
name = "Support"

[[teams]]
name = "Level 1 Support"
department = "Support"

[[agents]]
email = "admin@desk.test"
name = "Ada Admin"
role = "admin"

[[agents]]
email = "garnet@desk.test"
name = "Garnet"
role = "agent"
teams = ["Level 1 Support"]

[[sla_plans]]
name = "SEV-A"
first_response = "1h"
resolution = "4h"

[[sla_plans]]
name = "SEV-B"
first_response = "4h"
resolution = "24h"

[[sla_plans]]
name = "SEV-C"
first_response = "24h"
resolution = "72h"

[[help_topics]]
name = "SEV-A"
sla_plan = "SEV-A"
priority = "emergency"
department = "Support"
assignee = "admin@desk.test"

[[help_topics]]
name = "SEV-B"
sla_plan = "SEV-B"
priority = "high"
team = "Level 1 Support"

[[help_topics]]
name = "SEV-C"
sla_plan = "SEV-C"
priority = "low"
team = "Level 1 Support"
`, dbURL, r.httpAddr, smtpHost, smtpPort, host, port, r.support.User, r.support.Password, host, port, r.urgent.User, r.urgent.Password)
	r.config = filepath.Join(t.TempDir(), "helpdesk.toml")
	if err := os.WriteFile(r.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.kill(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("daemon log:\n%s", r.logs)
		}
	})
	return r
}

func (r *rig) start() {
	r.t.Helper()
	r.daemon = exec.Command(r.bin, "serve", "-config", r.config)
	if r.logs == nil {
		r.logs = &bytes.Buffer{}
	}
	r.daemon.Stdout, r.daemon.Stderr = r.logs, r.logs
	if err := r.daemon.Start(); err != nil {
		r.t.Fatal(err)
	}
}

// kill signals the daemon and waits for it; the error is its exit status.
func (r *rig) kill(sig syscall.Signal) error {
	if r.daemon == nil || r.daemon.Process == nil {
		return nil
	}
	r.daemon.Process.Signal(sig)
	err := r.daemon.Wait()
	r.daemon = nil
	return err
}

// cli runs a helpdesk subcommand and returns its standard output.
func (r *rig) cli(args ...string) string {
	r.t.Helper()
	args = append(args, "-config", r.config)
	cmd := exec.Command(r.bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("helpdesk %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func (r *rig) tickets(status string) []core.Ticket {
	r.t.Helper()
	args := []string{"ticket", "list", "--json"}
	if status != "" {
		args = append(args, "--status", status)
	}
	var list []core.Ticket
	if err := json.Unmarshal([]byte(r.cli(args...)), &list); err != nil {
		r.t.Fatalf("ticket list --json: %v", err)
	}
	return list
}

func (r *rig) waitTickets(n int) []core.Ticket {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		list := r.tickets("")
		if len(list) >= n || time.Now().After(deadline) {
			return list
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// mailsTo waits until at least n mails reached addr (n = 0: no wait) and
// returns them.
func (r *rig) mailsTo(addr string, n int) []mailouttest.Mail {
	deadline := time.Now().Add(20 * time.Second)
	for {
		var out []mailouttest.Mail
		for _, m := range r.sink.Mails() {
			for _, to := range m.To {
				if strings.EqualFold(to, addr) {
					out = append(out, m)
				}
			}
		}
		if len(out) >= n || time.Now().After(deadline) {
			return out
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func customerMail(from, to, subject, msgID, body string) []byte {
	return []byte(fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: %s\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", from, to, subject, msgID, time.Now().Format(time.RFC1123Z), body))
}

func TestEndToEndOneMailOneTicketOneAckAcrossRestart(t *testing.T) {
	r := newRig(t)
	c := r.support.Dial(t)
	r.start()
	r.support.Append(t, c, "INBOX", customerMail("Jane Doe <jane@example.org>", "support@desk.test",
		"Portal returns 404", "jane-1@example.org", "My portal returns 404 and I cannot pay."))
	list := r.waitTickets(1)
	if len(list) != 1 {
		t.Fatalf("got %d tickets, want 1", len(list))
	}
	acks := r.mailsTo("jane@example.org", 1)
	if len(acks) != 1 {
		t.Fatalf("got %d mails to jane, want the acknowledgement", len(acks))
	}
	h := acks[0].Header()
	subj, _ := h.Subject()
	if want := list[0].Tag() + " Portal returns 404"; subj != want {
		t.Errorf("ack subject %q, want %q", subj, want)
	}
	if irt, _ := h.MsgIDList("In-Reply-To"); len(irt) != 1 || irt[0] != "jane-1@example.org" {
		t.Errorf("ack In-Reply-To %v, want jane-1@example.org", irt)
	}
	if refs, _ := h.MsgIDList("References"); len(refs) == 0 || refs[0] != "jane-1@example.org" {
		t.Errorf("ack References %v, want jane-1@example.org first", refs)
	}

	// Kill the daemon hard, append another mail while it is down, restart.
	r.kill(syscall.SIGKILL)
	r.support.Append(t, c, "INBOX", customerMail("Bob <bob@example.org>", "support@desk.test",
		"Printer on fire", "bob-1@example.org", "It is on fire."))
	r.start()
	r.waitTickets(2)
	r.mailsTo("bob@example.org", 1)
	time.Sleep(1500 * time.Millisecond) // several poll intervals: room for a duplicate to show
	list = r.tickets("")
	if len(list) != 2 {
		t.Errorf("got %d tickets after restart, want 2", len(list))
	}
	for _, who := range []string{"jane@example.org", "bob@example.org"} {
		if got := len(r.mailsTo(who, 0)); got != 1 {
			t.Errorf("%s got %d acknowledgements, want 1", who, got)
		}
	}
	show := r.cli("ticket", "show", fmt.Sprint(list[1].Number))
	if !strings.Contains(show, "cannot pay") || !strings.Contains(show, "event created") {
		t.Errorf("ticket show lacks the message or the created event:\n%s", show)
	}
	start := time.Now()
	if err := r.kill(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM: the daemon exited with %v, want a clean exit", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("shutdown took %v", took)
	}
	if !strings.Contains(r.logs.String(), "shutting down") {
		t.Errorf("no orderly shutdown in the log")
	}
}
