package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"helpdesk/core"
	"helpdesk/core/coretest"
)

func (r *rig) get(path string) (int, string) {
	r.t.Helper()
	resp, err := http.Get("http://" + r.httpAddr + path)
	if err != nil {
		r.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric reads one sample from a Prometheus text exposition.
func metric(t *testing.T, body, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no metric %s in:\n%s", name, body)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func TestHealthAndMetricsAfterTraffic(t *testing.T) {
	r := newRig(t)
	c := r.support.Dial(t)
	r.start()
	waitHTTP(t, r)
	r.support.Append(t, c, "INBOX", customerMail("Jane <jane@example.org>", "support@desk.test", "Portal 404", "m-1@example.org", "Down."))
	r.support.Append(t, c, "INBOX", customerMail("Jane <jane@example.org>", "support@desk.test", "Portal 404", "m-1@example.org", "Down."))
	bounce, _ := os.ReadFile("../../mailin/testdata/machine/rfc3834-01.eml")
	r.support.Append(t, c, "INBOX", bounce)
	r.waitTickets(1)
	r.mailsTo("jane@example.org", 1)
	time.Sleep(time.Second) // let the sender record its result
	if code, _ := r.get("/healthz"); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	if code, body := r.get("/readyz"); code != 200 {
		t.Errorf("/readyz: %d %s", code, body)
	}
	_, body := r.get("/metrics")
	for name, want := range map[string]float64{
		`helpdesk_messages_ingested_total{class="human"}`:     1,
		`helpdesk_messages_ingested_total{class="duplicate"}`: 1,
		`helpdesk_messages_ingested_total{class="autoreply"}`: 1,
		`helpdesk_outbox_depth`:                               0,
		`helpdesk_quarantined_messages`:                       0,
	} {
		if got := metric(t, body, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := metric(t, body, `helpdesk_sends_total{result="sent"}`); got < 1 {
		t.Errorf("sends sent = %v, want at least the acknowledgement", got)
	}
	if lag := metric(t, body, `helpdesk_mailbox_poll_lag_seconds{mailbox="support"}`); lag > 5 {
		t.Errorf("poll lag %vs", lag)
	}
	for _, name := range []string{"helpdesk_sla_tick_seconds_count", "helpdesk_loop_brake_trips_total", "helpdesk_outbox_oldest_age_seconds"} {
		metric(t, body, name)
	}
}

func waitHTTP(t *testing.T, r *rig) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + r.httpAddr + "/healthz"); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the daemon's HTTP server never came up")
}

var statusLinkRE = regexp.MustCompile(`http://[^\s]+/status/[a-z0-9-]+`)

func TestStatusPageShowsNoInternalNoteAndRefusesForgery(t *testing.T) {
	r := newRig(t)
	r.seen = map[string]bool{}
	c := r.urgent.Dial(t)
	r.start()
	waitHTTP(t, r)
	r.urgent.Append(t, c, "INBOX", customerMail("Greg <greg@example.com>", "emergency@desk.test", "Trackpad dead", "g-1@example.com",
		"My trackpad does nothing."))
	n := r.waitTickets(1)[0].Number
	ack := r.waitSent("greg@example.com", "Trackpad")
	link := statusLinkRE.FindString(ack.body)
	if link == "" {
		t.Fatalf("the acknowledgement carries no status link:\n%s", ack.body)
	}
	alert := r.waitSent("admin@desk.test", "New ticket")
	r.reply(r.support, "Ada Admin <admin@desk.test>", alert, "/note Greg's laptop is on the recall list: SECRET-RECALL-42")
	r.waitFor(n, "the note", func(th core.Thread) bool { return len(th.Entries) >= 4 })
	r.reply(r.support, "Ada Admin <admin@desk.test>", alert, "/resolve\nRe-enabled the trackpad in Windows Device Manager.")
	r.waitFor(n, "the response", func(th core.Thread) bool { return th.Ticket.Status == "resolved" })

	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "Device Manager") || !strings.Contains(string(page), "Resolved") {
		t.Fatalf("status page %d:\n%s", resp.StatusCode, page)
	}
	if strings.Contains(string(page), "SECRET-RECALL-42") || strings.Contains(string(page), "<script") {
		t.Errorf("status page shows an internal note or a script:\n%s", page)
	}
	forged := link[:len(link)-3] + "aaa"
	if resp, err := http.Get(forged); err != nil || resp.StatusCode != 403 {
		t.Errorf("forged link: %v %v, want 403", resp.StatusCode, err)
	}
	other := strings.Replace(link, "/status/"+strconv.FormatInt(n, 10)+"-", "/status/"+strconv.FormatInt(n+1, 10)+"-", 1)
	if resp, err := http.Get(other); err != nil || resp.StatusCode != 403 {
		t.Errorf("link altered to another ticket: %v %v, want 403", resp.StatusCode, err)
	}
	dom := screenshot(t, link, "status-page.png")
	if !strings.Contains(dom, "Device Manager") || strings.Contains(dom, "SECRET-RECALL-42") {
		t.Errorf("rendered page wrong:\n%s", dom)
	}
}

// screenshot renders the page in headless Chromium, as a customer's browser
// would, saves a PNG among the test's artifacts, and checks the rendered DOM.
// screenshot renders url in headless Chromium into the test's output
// directory as name, and returns the DOM Chromium built.
func screenshot(t *testing.T, url, name string) string {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if coretest.Required() {
			t.Fatal("chromium is missing: scripts/test installs it")
		}
		t.Skip("no chromium")
	}
	dir := os.Getenv("HELPDESK_TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	os.MkdirAll(dir, 0o755)
	png := filepath.Join(dir, name)
	flags := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--window-size=900,900"}
	if out, err := exec.Command(chromium, append(flags, "--screenshot="+png, url)...).CombinedOutput(); err != nil {
		t.Fatalf("chromium screenshot: %v\n%s", err, out)
	}
	if fi, err := os.Stat(png); err != nil || fi.Size() < 5000 {
		t.Fatalf("screenshot %s missing or blank: %v", png, err)
	}
	dom, err := exec.Command(chromium, append(flags, "--dump-dom", url)...).Output()
	if err != nil {
		t.Fatalf("chromium dump-dom: %v", err)
	}
	t.Logf("screenshot: %s", png)
	return string(dom)
}

func TestStallAlertOnceAndReadyzFails(t *testing.T) {
	r := newRig(t)
	cfg, _ := os.ReadFile(r.config)
	// The emergency mailbox's server is unreachable: it never polls. (A
	// wrong password would do too, but Dovecot then slows every login from
	// this address, the healthy mailbox's included.)
	dead := freeAddr(t)
	_, deadPort, _ := strings.Cut(dead, ":")
	i := strings.Index(string(cfg), `name = "emergency"`)
	_, port, _ := strings.Cut(r.support.Addr, ":")
	broken := string(cfg)[:i] + strings.Replace(string(cfg)[i:], "port = "+port, "port = "+deadPort, 1)
	if broken == string(cfg) {
		t.Fatal("could not break the config")
	}
	os.WriteFile(r.config, []byte(broken), 0o600)
	r.start()
	waitHTTP(t, r)
	alert := r.mailsTo("admin@desk.test", 1)
	if len(alert) != 1 || !strings.Contains(readMail(alert[0].Data).Subject, "Mailbox emergency is not polling") {
		t.Fatalf("stall alerts: %v", r.subjects())
	}
	if code, body := r.get("/readyz"); code != 503 || !strings.Contains(body, "emergency") {
		t.Errorf("/readyz %d %q, want 503 naming the mailbox", code, body)
	}
	time.Sleep(5 * time.Second) // more checks: still one alert
	if got := len(r.mailsTo("admin@desk.test", 0)); got != 1 {
		t.Errorf("%d stall alerts, want exactly 1", got)
	}
}

// The SMTP server is unreachable: after outage_alert /readyz fails naming
// it and the metrics say for how long.
func TestSMTPOutageOnReadyzAndMetrics(t *testing.T) {
	r := newRig(t)
	cfg, _ := os.ReadFile(r.config)
	_, sinkPort, _ := strings.Cut(r.sink.Addr, ":")
	_, deadPort, _ := strings.Cut(freeAddr(t), ":")
	broken := strings.Replace(string(cfg), "[smtp]\n", "[smtp]\noutage_alert = \"1s\"\n", 1)
	broken = strings.Replace(broken, "port = "+sinkPort, "port = "+deadPort, 1)
	os.WriteFile(r.config, []byte(broken), 0o600)
	c := r.support.Dial(t)
	r.support.Append(t, c, "INBOX", customerMail("Greg <greg@example.com>", "support@desk.test", "Trackpad", "smtp-down@example.com", "Dead."))
	r.start()
	waitHTTP(t, r)
	r.waitTickets(1)
	deadline := time.Now().Add(20 * time.Second)
	code, body := r.get("/readyz")
	for (code != 503 || !strings.Contains(body, "smtp")) && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		code, body = r.get("/readyz")
	}
	if code != 503 || !strings.Contains(body, "smtp: unreachable since") {
		t.Errorf("/readyz %d %q, want 503 naming the SMTP server", code, body)
	}
	if _, metrics := r.get("/metrics"); !strings.Contains(metrics, "helpdesk_smtp_unreachable_seconds") ||
		strings.Contains(metrics, "helpdesk_smtp_unreachable_seconds 0\n") {
		t.Errorf("metrics do not show the outage:\n%s", metrics)
	}
}

// A stall alert that cannot be queued (the database away) is logged and
// tried again at the next check, then sent once.
func TestFailedStallAlertIsRetried(t *testing.T) {
	s := coretest.SeededStore(t)
	broken := coretest.OpenSame(t, s)
	broken.Close()
	h := newHealth()
	h.started = time.Now().Add(-time.Hour)
	h.watch("support", func() bool { return true })
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx := context.Background()
	h.alertStalls(ctx, broken, time.Minute, time.Now(), log)
	if !strings.Contains(logs.String(), "stall alert") {
		t.Fatalf("the failed alert was not logged: %s", logs.String())
	}
	for range 2 {
		h.alertStalls(ctx, s, time.Minute, time.Now(), log)
	}
	mails, err := s.ClaimOutbox(ctx, 100, time.Hour, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(mails) != 1 || mails[0].Template != core.TemplateStallAlert {
		t.Fatalf("after the database came back: %d mails, want one stall alert", len(mails))
	}
}

var dashboardLinkRE = regexp.MustCompile(`http://[^\s"]+/report/[a-z0-9-]+`)

// The weekly report reaches the admin by mail with a dashboard link; the
// page shows the same figures and charts in Chromium, with no script, and
// refuses forged or altered links.
func TestWeeklyReportMailAndDashboard(t *testing.T) {
	r := newRig(t)
	r.seen = map[string]bool{}
	cfg, _ := os.ReadFile(r.config)
	// The first report of the day is the only one: the ticket is in before it.
	os.WriteFile(r.config, append(cfg, []byte("\n[sla]\nreport = \"@every 5s\"\n")...), 0o600)
	c := r.urgent.Dial(t)
	r.urgent.Append(t, c, "INBOX", customerMail("Greg <greg@example.com>", "emergency@desk.test", "Trackpad dead", "g-rep@example.com",
		"My trackpad does nothing."))
	r.start()
	waitHTTP(t, r)
	r.waitTickets(1)
	report := r.waitSent("admin@desk.test", "Support report")
	if !strings.Contains(report.body, "Tickets opened") || !strings.Contains(report.body, "SEV-A") {
		t.Fatalf("report mail text:\n%s", report.body)
	}
	link := dashboardLinkRE.FindString(report.body)
	if link == "" {
		t.Fatalf("the report mail has no dashboard link:\n%s", report.body)
	}
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "Trackpad dead") ||
		strings.Count(string(page), `src="data:image/png;base64,`) != 2 || strings.Contains(string(page), "<script") {
		t.Fatalf("dashboard %d:\n%.2000s", resp.StatusCode, page)
	}
	forged := link[:len(link)-3] + "aaa"
	if resp, err := http.Get(forged); err != nil || resp.StatusCode != 403 {
		t.Errorf("forged link: %v %v, want 403", resp.StatusCode, err)
	}
	i := strings.LastIndex(link, "/report/") + len("/report/")
	digit := "1"
	if link[i] == '1' {
		digit = "2"
	}
	altered := link[:i] + digit + link[i+1:] // another week, same signature
	if resp, err := http.Get(altered); err != nil || resp.StatusCode != 403 {
		t.Errorf("altered link: %v %v, want 403", resp.StatusCode, err)
	}
	dom := screenshot(t, link, "dashboard.png")
	if !strings.Contains(dom, "Tickets opened") || !strings.Contains(dom, "Oldest open tickets") {
		t.Errorf("dashboard as rendered:\n%.3000s", dom)
	}
}
