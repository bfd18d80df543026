package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helpdesk/core"
	"helpdesk/core/coretest"
)

// pdf is a customer's file, and mailWithPDF the mail that carries it.
var pdf = bytes.Repeat([]byte("%PDF-1.4 trackpad log\n"), 500)

func mailWithPDF(id string) string {
	return "From: Greg <greg@example.com>\r\nTo: support@desk.test\r\nSubject: Trackpad log\r\nMessage-ID: <" + id + ">\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nLog attached.\r\n" +
		"--b\r\nContent-Type: application/pdf; name=\"trackpad log.pdf\"\r\nContent-Disposition: attachment; filename=\"trackpad log.pdf\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString(pdf) + "\r\n--b--\r\n"
}

// A customer's file is listed by ticket show, saved by ticket attachment,
// and served by the signed download link, which refuses forged links.
func TestCustomerFilesForAgents(t *testing.T) {
	url := coretest.URL(t)
	cfg := pipeConfig(t, url)
	if out, err := runCLI(t, mailWithPDF("pdf-1@example.com"), "pipe", "-config", cfg); err != nil {
		t.Fatalf("pipe: %v\n%s", err, out)
	}
	if out, _ := runCLI(t, "", "ticket", "show", "1001", "-config", cfg); !strings.Contains(out, `trackpad log.pdf (application/pdf, 11000 bytes)`) {
		t.Errorf("ticket show does not list the file:\n%s", out)
	}
	path := filepath.Join(t.TempDir(), "saved.pdf")
	if out, err := runCLI(t, "", "ticket", "attachment", "1001", "trackpad log.pdf", "-o", path, "-config", cfg); err != nil {
		t.Fatalf("ticket attachment: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, pdf) {
		t.Errorf("saved %d bytes, want the %d of the file", len(got), len(pdf))
	}

	s, err := core.Open(context.Background(), url, core.Options{Domain: "desk.test", Secret: []byte("pipe-secret")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /file/{token}", func(w http.ResponseWriter, r *http.Request) {
		fileDownload(w, r, s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	token := s.FileToken(1, time.Now().Add(time.Hour))
	for _, c := range []struct {
		token string
		code  int
	}{
		{token, 200},
		{strings.Replace(token, "1-", "2-", 1), 404},        // altered
		{s.FileToken(1, time.Now().Add(-time.Minute)), 404}, // expired
	} {
		resp, err := http.Get(srv.URL + "/file/" + c.token)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("%s: %d, want %d", c.token, resp.StatusCode, c.code)
		}
		if c.code == 200 && (!bytes.Equal(body, pdf) || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment")) {
			t.Errorf("download: %d bytes, disposition %q", len(body), resp.Header.Get("Content-Disposition"))
		}
	}
}

// The command line's actions are the mail commands' twins: a reply goes to
// the customer, and closing tells the customer as /close by mail does.
func TestTicketReplyAndCloseFromTheCommandLine(t *testing.T) {
	url := coretest.URL(t)
	cfg := pipeConfig(t, url)
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(b, []byte("\n[[agents]]\nemail = \"admin@desk.test\"\nname = \"Ada Admin\"\nrole = \"admin\"\n")...), 0o644)
	if out, err := runCLI(t, "", "migrate", "-config", cfg); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	msg := "From: Greg <greg@example.com>\r\nSubject: Trackpad\r\nMessage-ID: <cli-1@example.com>\r\n\r\nDead.\r\n"
	if out, err := runCLI(t, msg, "pipe", "-config", cfg); err != nil {
		t.Fatalf("pipe: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "Press Fn+F7.\n", "ticket", "reply", "1001", "--as", "admin@desk.test", "-config", cfg); err != nil {
		t.Fatalf("ticket reply: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "", "ticket", "close", "1001", "--as", "admin@desk.test", "-config", cfg); err != nil ||
		!strings.Contains(out, "customer told") {
		t.Fatalf("ticket close: %v\n%s", err, out)
	}
	s, err := core.Open(context.Background(), url, core.Options{Domain: "desk.test", Secret: []byte("pipe-secret")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mails, err := s.ClaimOutbox(context.Background(), 100, time.Hour, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, m := range mails {
		if strings.Contains(m.Recipient, "greg@example.com") {
			got[m.Template] = true
		}
	}
	if !got[core.TemplateResponse] || !got[core.TemplateResolved] {
		t.Errorf("mails to the customer %v, want the response and the closing notice", got)
	}
	if _, err := runCLI(t, "", "ticket", "reply", "1001", "--as", "admin@desk.test", "-config", cfg); exitCode(err) != 2 {
		t.Errorf("an empty reply: exit %d, want 2", exitCode(err))
	}
}

// Rough edges: an unknown mailbox name is refused (pipe tempfails, so the
// MTA keeps the mail while the alias is fixed); check-config takes
// --config like every other command; --help is not an error.
func TestCommandLineEdges(t *testing.T) {
	cfg := pipeConfig(t, coretest.URL(t))
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(b, []byte("\n[[mailboxes]]\nname = \"support\"\naddress = \"support@desk.test\"\nhost = \"127.0.0.1\"\nport = 143\ntls = \"none\"\nuser = \"u\"\npassword = \"p\"\n")...), 0o644)
	msg := "From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n"
	if _, err := runCLI(t, msg, "pipe", "-config", cfg, "-mailbox", "suport"); exitCode(err) != exTempFail {
		t.Errorf("pipe to an unknown mailbox: exit %d, want %d", exitCode(err), exTempFail)
	}
	if out, err := runCLI(t, msg, "pipe", "-config", cfg, "-mailbox", "support"); err != nil {
		t.Errorf("pipe to a known mailbox: %v\n%s", err, out)
	}
	eml := filepath.Join(t.TempDir(), "m.eml")
	os.WriteFile(eml, []byte(msg), 0o600)
	if _, err := runCLI(t, "", "explain", eml, "--mailbox", "nope", "-config", cfg); exitCode(err) != 2 {
		t.Errorf("explain with an unknown mailbox: exit %d, want 2", exitCode(err))
	}
	if out, err := runCLI(t, "", "explain", eml, "--json", "-config", cfg); err != nil || strings.Contains(out, `"agent"`) ||
		strings.Contains(out, `"route_rule"`) || !strings.Contains(out, `"class": "human"`) {
		t.Errorf("explain --json: %v\n%s (want empty fields left out)", err, out)
	}
	fresh := filepath.Join(t.TempDir(), "fresh.toml")
	os.WriteFile(fresh, []byte(fmt.Sprintf("database_url = %q\n", coretest.EmptyURL(t))), 0o600)
	if _, err := runCLI(t, "", "explain", eml, "-config", fresh); exitCode(err) != 78 || !strings.Contains(fmt.Sprint(err), "helpdesk migrate") {
		t.Errorf("explain on a fresh database: exit %d: %v, want 78 saying to migrate", exitCode(err), err)
	}
	if out, err := runCLI(t, "", "check-config", "--config", cfg); err != nil || !strings.Contains(out, "ok (1 mailboxes") {
		t.Errorf("check-config --config: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"ticket", "list", "--help"}, {"auth", "--help"}, {"auth", "login", "--help"}} {
		if _, err := runCLI(t, "", args...); err != nil {
			t.Errorf("%s: %v, want exit 0", strings.Join(args, " "), err)
		}
	}
	if _, err := runCLI(t, "", "auth", "login", "--mailbox", "support", "--smtp", "-config", cfg); exitCode(err) != 2 {
		t.Errorf("auth login naming two accounts: exit %d, want 2", exitCode(err))
	}
	if _, err := runCLI(t, "", "auth", "login", "--mailbox", "support", "-config", cfg); exitCode(err) != 2 ||
		!strings.Contains(fmt.Sprint(err), "signs in with a password") {
		t.Errorf("auth login for a password mailbox: exit %d: %v, want 2 saying it uses a password", exitCode(err), err)
	}
}

// check-config refuses what a new admin gets wrong, naming the key.
func TestCheckConfigRejections(t *testing.T) {
	example, err := os.ReadFile("../../helpdesk.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, from, to, want string }{
		{"bad schedule", "[sla]\n", "[sla]\nschedule = \"every minute\"\n", "sla.schedule"},
		{"status url without scheme", "http_addr", "status_url = \"help.example.com\"\nhttp_addr", "status_url"},
		{"at over 100%", `at = "75%"`, `at = "175%"`, ".at"},
		{"escalation to a stranger", `agent = "admin@example.com"`, `agent = "nobody@example.com"`, ".agent"},
		{"team in no department", `department = "Support"`, `department = "Sales"`, "teams[0].department"},
		{"agent in no team", `teams = ["Level 1 Support"]`, `teams = ["Level 9"]`, "agents[1].teams"},
		{"topic on no plan", `sla_plan = "SEV-B"`, `sla_plan = "SEV-Z"`, "help_topics[1].sla_plan"},
		{"topic for no team", `team = "Level 1 Support"`, `team = "Level 9"`, "help_topics[1].team"},
		{"duplicate topic", `sla_plan = "SEV-C"`, "sla_plan = \"SEV-C\"\n\n[[help_topics]]\nname = \"sev-c\"", "duplicate name"},
		{"mailbox default topic unknown", `default_topic = "SEV-C"`, `default_topic = "SEV-Q"`, "mailboxes[0].default_topic"},
		{"route regexp broken", `match = "(?i)cannot pay`, `match = "(?i)cannot pay(`, "routes[1].match"},
		{"mailboxes without SMTP", `host = "smtp.example.com"`, `host = ""`, "smtp.host"},
		{"oauth provider unknown", `default_topic = "SEV-C"`, "default_topic = \"SEV-C\"\n[mailboxes.oauth]\nprovider = \"yahoo\"\nclient_id = \"x\"", "mailboxes[0].oauth: provider \"yahoo\""},
		{"oauth without client id", `timeout = "30s"`, "timeout = \"30s\"\n[smtp.oauth]\nprovider = \"microsoft\"", "smtp.oauth: client_id is missing"},
		{"app-only without a secret", `timeout = "30s"`, "timeout = \"30s\"\n[smtp.oauth]\nprovider = \"microsoft\"\nclient_id = \"x\"\ngrant = \"client_credentials\"", "client_secret"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path, _ := brokenExample(t, example, c.from, c.to)
			if _, err := runCLI(t, "", "check-config", path); exitCode(err) != 78 || !strings.Contains(fmt.Sprint(err), c.want) {
				t.Errorf("exit %d: %v, want 78 naming %s", exitCode(err), err, c.want)
			}
		})
	}
	empty := filepath.Join(t.TempDir(), "empty.toml")
	os.WriteFile(empty, []byte("# nothing yet\n\n"), 0o600)
	if _, err := runCLI(t, "", "check-config", empty); exitCode(err) != 78 || !strings.Contains(fmt.Sprint(err), "empty") {
		t.Errorf("an empty file: exit %d: %v", exitCode(err), err)
	}
}

// migrate --dry-run on a fresh database lists every migration and applies
// none; migrate then applies them.
func TestMigrateDryRun(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "h.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("database_url = %q\n", coretest.EmptyURL(t))), 0o600)
	for i := 0; i < 2; i++ {
		out, err := runCLI(t, "", "migrate", "--dry-run", "-config", cfg)
		if err != nil || strings.Count(out, "would apply") != core.SchemaVersion() {
			t.Fatalf("dry run %d: %v\n%s", i, err, out)
		}
	}
	if out, err := runCLI(t, "", "migrate", "-config", cfg); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if out, _ := runCLI(t, "", "migrate", "--dry-run", "-config", cfg); !strings.Contains(out, "nothing to do") {
		t.Errorf("after migrating: %s", out)
	}
}
