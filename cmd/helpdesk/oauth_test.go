package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"helpdesk/core/coretest"
	"helpdesk/core/mailauth/mailauthtest"
	"helpdesk/mailin/mailintest"
	"helpdesk/mailout/mailouttest"
)

// A Microsoft 365 team's setup, start to finish, against real servers that
// take OAuth2 as Exchange Online does (IMAP by XOAUTH2 over STARTTLS with a
// private CA; SMTP AUTH offering LOGIN and XOAUTH2): check-config says what
// to run, `auth login` signs the mailbox in by device code and the SMTP
// account by the browser flow, the daemon takes mail and answers, and a
// revoked grant alerts the admins once, fails /readyz with the fix, and
// signing in again resumes intake.
func TestOAuthSetupFromSignInToRevocation(t *testing.T) {
	auth := mailauthtest.Start(t, 3*time.Second)
	d := mailintest.StartDovecot(t, mailintest.DovecotOptions{Mechanisms: "plain login xoauth2", IntrospectURL: auth.IntrospectURL()})
	sink := mailouttest.Start(t)
	submission := mailouttest.StartPostfix(t, mailouttest.Postfix{RelayTo: sink.Addr, SASL: d.SASL, Mechanisms: "login, xoauth2"})
	r := &rig{t: t, bin: helpdeskBinary(t), sink: sink, httpAddr: freeAddr(t), support: d.Account("support@desk.test")}
	r.config = writeOAuthConfig(t, r, auth, d, submission)
	t.Cleanup(func() {
		r.kill(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("daemon log:\n%s", r.logs)
		}
	})

	check := r.run("check-config")
	for _, want := range []string{"next: sign in for mailbox support: helpdesk auth login --mailbox support",
		"next: sign in for smtp: helpdesk auth login --smtp"} {
		if !strings.Contains(check, want) {
			t.Errorf("check-config does not say %q:\n%s", want, check)
		}
	}
	signInByDeviceCode(t, r, auth)
	auth.User = "sender@desk.test"
	signInByBrowser(t, r)
	auth.User = "support@desk.test"

	r.start()
	waitHTTP(t, r)
	c := r.support.Dial(t)
	r.support.Append(t, c, "INBOX", customerMail(`"Doe, John" <john@example.com>`, "support@desk.test", "Cannot log in", "john-1@example.com", "Help."))
	r.waitTickets(1)
	if got := r.mailsTo("john@example.com", 1); len(got) != 1 {
		t.Fatalf("no acknowledgement through the XOAUTH2 submission port")
	}

	auth.Revoke("support@desk.test")
	alerts := r.signInAlerts(1)
	if len(alerts) != 1 {
		t.Fatalf("%d sign-in alerts after revocation, want 1", len(alerts))
	}
	if !strings.Contains(alerts[0].Body, "helpdesk auth login --mailbox support") || !strings.Contains(alerts[0].Body, "invalid_grant") {
		t.Errorf("alert does not say what broke and the command that fixes it:\n%s", alerts[0].Body)
	}
	if code, body := r.get("/readyz"); code != 503 || !strings.Contains(body, "helpdesk auth login --mailbox support") {
		t.Errorf("/readyz %d %q, want 503 with the fix", code, body)
	}
	time.Sleep(4 * time.Second) // more failed attempts: still one alert
	if n := len(r.signInAlerts(0)); n != 1 {
		t.Errorf("%d sign-in alerts, want 1", n)
	}

	signInByDeviceCode(t, r, auth)
	r.support.Append(t, c, "INBOX", customerMail("Jane <jane@example.com>", "support@desk.test", "Second", "jane-1@example.com", "Hi."))
	if n := len(r.waitTickets(2)); n != 2 {
		t.Fatalf("%d tickets after signing in again, want 2", n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for code, _ := r.get("/readyz"); code != 200 && time.Now().Before(deadline); code, _ = r.get("/readyz") {
		time.Sleep(200 * time.Millisecond)
	}
	if code, body := r.get("/readyz"); code != 200 {
		t.Errorf("/readyz %d %q after signing in again", code, body)
	}
	if out := r.run("auth", "logout", "--mailbox", "support"); !strings.Contains(out, "mailbox support signed out") {
		t.Errorf("auth logout: %s", out)
	}
	if out := r.run("auth", "logout", "--mailbox", "support"); !strings.Contains(out, "had no stored sign-in") {
		t.Errorf("auth logout again: %s", out)
	}
}

// signInAlerts waits for n alerts about a grant that stopped working
// (n = 0: no wait) and returns them.
func (r *rig) signInAlerts(n int) []demoMail {
	deadline := time.Now().Add(20 * time.Second)
	for {
		var out []demoMail
		for _, m := range r.mailsTo("admin@desk.test", 0) {
			if d := readMail(m.Data); strings.Contains(d.Subject, "Sign-in for mailbox support stopped working") {
				out = append(out, d)
			}
		}
		if len(out) >= n || time.Now().After(deadline) {
			return out
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// run runs a helpdesk command with the rig's config and returns its output.
func (r *rig) run(args ...string) string {
	r.t.Helper()
	out, err := exec.Command(r.bin, append(args, "--config", r.config)...).CombinedOutput()
	if err != nil {
		r.t.Fatalf("helpdesk %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var deviceRE = regexp.MustCompile(`open (\S+) and enter the code (\S+)`)

// signInByDeviceCode runs `auth login --mailbox support` and does what a
// person would: opens the address and enters the code.
func signInByDeviceCode(t *testing.T, r *rig, auth *mailauthtest.Server) {
	t.Helper()
	out := r.interact([]string{"auth", "login", "--mailbox", "support"}, func(line string) bool {
		m := deviceRE.FindStringSubmatch(line)
		if m == nil {
			return false
		}
		visit(t, m[1]+"?code="+m[2])
		return true
	})
	if !strings.Contains(out, "The mail server accepts it") {
		t.Fatalf("auth login --mailbox support: %q", out)
	}
}

// signInByBrowser runs `auth login --smtp` and opens the address it prints,
// whose consent redirects back to the command's loopback listener.
func signInByBrowser(t *testing.T, r *rig) {
	t.Helper()
	out := r.interact([]string{"auth", "login", "--smtp"}, func(line string) bool {
		if !strings.HasPrefix(line, "http") {
			return false
		}
		visit(t, line)
		return true
	})
	if !strings.Contains(out, "The mail server accepts it") {
		t.Fatalf("auth login --smtp:\n%s", out)
	}
}

// interact runs a command, hands each output line to act until it acts,
// and returns the whole output once the command succeeds.
func (r *rig) interact(args []string, act func(line string) bool) string {
	r.t.Helper()
	cmd := exec.Command(r.bin, append(args, "--config", r.config)...)
	var all, stderr bytes.Buffer
	cmd.Stderr = &stderr
	pipe, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	acted := false
	lines := bufio.NewScanner(pipe)
	for lines.Scan() {
		fmt.Fprintln(&all, lines.Text())
		if !acted {
			acted = act(lines.Text())
		}
	}
	err := cmd.Wait()
	all.Write(stderr.Bytes())
	if err != nil {
		r.t.Fatalf("helpdesk %s: %v\n%s", strings.Join(args, " "), err, all.String())
	}
	return all.String()
}

func visit(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("open %s: %s", url, resp.Status)
	}
}

func writeOAuthConfig(t *testing.T, r *rig, auth *mailauthtest.Server, d *mailintest.Dovecot, submission string) string {
	_, imapPort, _ := strings.Cut(d.IMAP, ":")
	smtpHost, smtpPort, _ := strings.Cut(submission, ":")
	cfg := fmt.Sprintf(`database_url = %q
domain = "desk.test"
secret = "oauth-e2e-secret"
log_format = "text"
http_addr = %q

[smtp]
host = %q
port = %s
tls = "none"
user = "sender@desk.test"
from = "Support <support@desk.test>"
[smtp.oauth]
grant = "browser"
client_id = %q
auth_url = %q
token_url = %q

[[mailboxes]]
name = "support"
address = "support@desk.test"
host = "localhost"
port = %s
tls = "starttls"
ca_file = %q
user = "support@desk.test"
poll_interval = "500ms"
[mailboxes.oauth]
grant = "device"
client_id = %q
device_url = %q
token_url = %q

[[agents]]
email = "admin@desk.test"
name = "Ada Admin"
role = "admin"
`, coretest.URL(t), r.httpAddr, smtpHost, smtpPort, auth.ClientID, auth.AuthURL(), auth.TokenURL(),
		imapPort, d.CA.CAFile, auth.ClientID, auth.DeviceURL(), auth.TokenURL())
	path := filepath.Join(t.TempDir(), "helpdesk.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
