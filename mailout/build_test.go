package mailout

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"helpdesk/core"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// boundaryRE finds MIME boundaries, which go-message picks at random.
var boundaryRE = regexp.MustCompile(`[0-9a-f]{60}`)

func goldenMail(template string, change func(*core.MailData)) core.OutMail {
	d := core.MailData{Number: 1001, Subject: "Laptop trackpad stopped working", Status: "open", Priority: "emergency",
		Customer: "Greg <greg@example.com>", Topic: "SEV-A", SLAPlan: "SEV-A", ToName: "Greg", ToEmail: "greg@example.com",
		ReplyToken: "1001-0-abcdefghijklmnop", Body: "My trackpad does nothing.", From: "Greg <greg@example.com>",
		Assignee: "Ada Admin <admin@desk.test>", Agent: "Garnet", Changes: []string{"priority: low", "assigned to Garnet"},
		Target: "resolution", Due: "2026-03-02 13:00 UTC", Late: "1h0m0s", Line: 2, Command: "/frobnicate", Error: "unknown command",
		Mailbox: "support", Reason: "message over limit", QuarantineID: 7, Since: "2026-03-02 09:00 UTC",
		Count: 3, Items: []string{"7 (mailbox support): message over limit", "8 (mailbox support): no usable From address"},
		Sender: "Robot <robot@example.com>", Limit: 5, Window: "1h0m0s", Undeliverable: true, What: "Your response", Address: "greg@example.com",
		Server: "smtp.example.com:587", PerSender: 30, Claimed: "Garnet <garnet@desk.test>", Into: 1002, IntoSubject: "Trackpad dead",
		Account: "mailbox support", Fix: "helpdesk auth login --mailbox support",
		Tickets: []core.QueueItem{{Number: 1001, Subject: "Trackpad", Status: "open", Priority: "high", Customer: "Greg <greg@example.com>", Mine: true, Due: "2026-03-02 13:00 UTC"}}}
	if change != nil {
		change(&d)
	}
	m := core.OutMail{ID: 1, Template: template, Recipient: "Greg <greg@example.com>", MessageID: "hd.1001.0123456789abcdef@desk.test",
		InReplyTo: "greg-1@example.com", Refs: []string{"greg-1@example.com"}, Data: d}
	if template == core.TemplateCommandError {
		m.Original = []byte("From: Garnet <garnet@desk.test>\r\nSubject: Re: [#1001] x\r\n\r\n/frobnicate\r\nHello\r\n")
	}
	return m
}

// goldenVariants give a template the data its kind of mail has, where the
// common data would not show what it says: each SLA ladder action.
var goldenVariants = map[string]func(*core.MailData){
	core.TemplateSLAWarning: func(d *core.MailData) {
		d.Late, d.Left, d.Step, d.By = "", "1h 0m 0s", 2, "SLA plan SEV-A, step 2 of its ladder"
		d.Thread = "Greg <greg@example.com>, 2026-03-02 08:00 UTC:\nMy trackpad does nothing."
	},
	core.TemplateSLABreach: func(d *core.MailData) {
		d.Late, d.Step, d.By = "30s", 3, "SLA plan SEV-A, step 3 of its ladder"
		d.Thread = "Greg <greg@example.com>, 2026-03-02 08:00 UTC:\nMy trackpad does nothing."
	},
	core.TemplateReport: func(d *core.MailData) { d.Report = goldenReport() },
	core.TemplateSLAEscalated: func(d *core.MailData) {
		d.Late, d.Step, d.By = "1h 0m 30s", 4, "SLA plan SEV-A, step 4 of its ladder"
		d.Priority, d.Team, d.Assignee = "high", "Level 1 Support", "Garnet <garnet@desk.test>"
		d.Changes = []string{"priority: emergency → high", "assignee: taken from Ada Admin <admin@desk.test>, given to Garnet <garnet@desk.test>"}
		d.Thread = "Greg <greg@example.com>, 2026-03-02 08:00 UTC:\nMy trackpad does nothing."
	},
}

// goldenReport is a week with two plans, a backlog, a breach and links.
func goldenReport() *core.ReportMail {
	from := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	week := &core.Report{From: from, To: from.AddDate(0, 0, 7), By: core.ByPlan,
		Groups: []core.ReportGroup{
			{Key: "SEV-A", Opened: 2, Resolved: 1, Reopened: 1, ReopenRate: 1,
				FirstResponse: core.Timing{Count: 2, Median: 30 * time.Minute, P90: 2 * time.Hour, WithinTarget: 50, Targeted: 2},
				Resolution:    core.Timing{Count: 1, Median: 4 * time.Hour, P90: 4 * time.Hour, WithinTarget: 100, Targeted: 1},
				Breaches:      map[string]int{"2: breach first_response": 1}},
			{Key: "SEV-B", Opened: 1, Resolved: 1,
				FirstResponse: core.Timing{Count: 1, Median: 2 * time.Hour, P90: 2 * time.Hour, WithinTarget: 100, Targeted: 1},
				Resolution:    core.Timing{Count: 1, Median: 9 * time.Hour, P90: 9 * time.Hour, WithinTarget: 100, Targeted: 1}},
		},
		Backlog: []core.BacklogCount{{Status: core.StatusOpen, Age: "3-7d", Count: 1}, {Status: core.StatusPending, Age: "<1d", Count: 2}},
		Load:    []core.AgentLoad{{Agent: core.Address{Name: "Garnet", Email: "garnet@desk.test"}, Open: 1, Replied: 3}},
		Breaches: []core.ReportBreach{{Number: 1003, Subject: "Ticket c", At: from.Add(11*time.Hour + 30*time.Minute),
			Step: "2: breach first_response", Late: "30m 0s", URL: "https://help.desk.test/status/1003-x-y"}},
		Oldest: []core.OpenTicket{{Number: 1003, Subject: "Ticket c", Status: core.StatusOpen, Created: from.Add(10 * time.Hour),
			Assignee: "garnet@desk.test", URL: "https://help.desk.test/status/1003-x-y"}},
	}
	week.Total = core.ReportGroup{Opened: 3, Resolved: 2, Reopened: 1,
		FirstResponse: core.Timing{Count: 3, Median: 2 * time.Hour, P90: 2 * time.Hour, WithinTarget: 66.7, Targeted: 3},
		Resolution:    core.Timing{Count: 2, Median: 4 * time.Hour, P90: 9 * time.Hour, WithinTarget: 100, Targeted: 2},
		Breaches:      map[string]int{"2: breach first_response": 1}}
	return &core.ReportMail{Week: week,
		Previous:     core.ReportGroup{Opened: 1, FirstResponse: core.Timing{Count: 1, Median: 3 * time.Hour, P90: 3 * time.Hour, WithinTarget: 0, Targeted: 1}},
		DashboardURL: "https://help.desk.test/report/1773014400-1775606400-abc"}
}

// pngRE stands for the charts' bytes in golden files: the picture is
// checked by TestReportMailCharts, the text around it here.
var pngRE = regexp.MustCompile(`(?s)(Content-Type: image/png[^\r]*\r\n(?:[^\r]+\r\n)*\r\n)[A-Za-z0-9+/=\r\n]+?(\r\n--)`)

// TestGoldenMIME renders every template into a whole message and compares
// it with testdata/NAME.eml (go test -update rewrites them).
func TestGoldenMIME(t *testing.T) {
	tpl, err := LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	from := core.Address{Name: "Example Support", Email: "support@desk.test"}
	for _, name := range core.Templates {
		t.Run(name, func(t *testing.T) {
			m := goldenMail(name, goldenVariants[name])
			r, err := tpl.Render(name, m.Data)
			if err != nil {
				t.Fatal(err)
			}
			raw, _, err := Build(m, r, from, "desk.test", when)
			if err != nil {
				t.Fatal(err)
			}
			got := boundaryRE.ReplaceAll(raw, []byte("BOUNDARY"))
			got = pngRE.ReplaceAll(got, []byte("${1}PNG${2}"))
			path := filepath.Join("testdata", name+".eml")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("rendered %s differs from %s:\n%s", name, path, got)
			}
		})
	}
}

func TestHeadersCarryLoopBrakes(t *testing.T) {
	tpl, _ := LoadTemplates("")
	for _, c := range []struct{ template, auto string }{
		{core.TemplateAck, "auto-replied"}, {core.TemplateNewTicketAlert, "auto-generated"}, {core.TemplateResponse, ""},
	} {
		m := goldenMail(c.template, nil)
		r, _ := tpl.Render(c.template, m.Data)
		raw, _, err := Build(m, r, core.Address{Email: "support@desk.test"}, "desk.test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		h := header(t, raw)
		if got := h.Get("Auto-Submitted"); got != c.auto {
			t.Errorf("%s: Auto-Submitted %q, want %q", c.template, got, c.auto)
		}
		if h.Get("X-Auto-Response-Suppress") != "All" || h.Get(core.LoopHeader) != "desk.test" {
			t.Errorf("%s: loop headers missing: %v", c.template, h)
		}
	}
}

func TestNoHeaderInjectionAndTemplatesStayLiteral(t *testing.T) {
	tpl, _ := LoadTemplates("")
	m := goldenMail(core.TemplateAck, func(d *core.MailData) {
		d.Subject, d.ToName, d.Body = "{{.Secret}} hello\r\nBcc: victim@example.com", "Mallory\r\nBcc: x@evil.test", "<script>alert(1)</script>"
	})
	m.Recipient = `"Mallory\r\nBcc: x@evil.test" <mallory@example.com>`
	r, err := tpl.Render(core.TemplateAck, m.Data)
	if err != nil {
		t.Fatal(err)
	}
	raw, _, err := Build(m, r, core.Address{Name: "Support\r\nX-Evil: 1", Email: "support@desk.test"}, "desk.test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h := header(t, raw)
	if h.Get("Bcc") != "" || h.Get("X-Evil") != "" {
		t.Fatalf("header injected:\n%s", raw)
	}
	subj, _ := h.Subject()
	if !strings.Contains(subj, "{{.Secret}} hello") {
		t.Errorf("subject %q: the customer's text must appear literally", subj)
	}
	if strings.Contains(r.HTML, "<script>") {
		t.Errorf("HTML body not escaped: %s", r.HTML)
	}
}

func header(t *testing.T, raw []byte) mail.Header {
	t.Helper()
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return r.Header
}

func TestLoadTemplatesOverrideAndCompleteness(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ack.txt.tmpl"), []byte(`{{define "subject"}}Custom [#{{.Number}}]{{end}}Custom body`), 0o644)
	tpl, err := LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := tpl.Render(core.TemplateAck, core.MailData{Number: 5})
	if err != nil {
		t.Fatal(err)
	}
	if r.Subject != "Custom [#5]" || r.Text != "Custom body" {
		t.Errorf("override not used: %+v", r)
	}
	os.WriteFile(filepath.Join(dir, "note.txt.tmpl"), []byte(`no subject here`), 0o644)
	if _, err := LoadTemplates(dir); err == nil || !strings.Contains(err.Error(), "subject") {
		t.Errorf("a template without a subject was accepted: %v", err)
	}
}

// The report mail carries its charts inline: PNGs of the stated size, each
// with the Content-ID its HTML refers to.
func TestReportMailCharts(t *testing.T) {
	tpl, err := LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	m := goldenMail(core.TemplateReport, func(d *core.MailData) { d.Report = goldenReport() })
	r, err := tpl.Render(core.TemplateReport, m.Data)
	if err != nil {
		t.Fatal(err)
	}
	raw, _, err := Build(m, r, core.Address{Name: "Support", Email: "support@desk.test"}, "desk.test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	msg, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	images := map[string]image.Config{}
	var html string
	err = msg.Walk(func(path []int, e *message.Entity, err error) error {
		if err != nil {
			return err
		}
		typ, _, _ := e.Header.ContentType()
		switch typ {
		case "text/html":
			body, _ := io.ReadAll(e.Body)
			html = string(body)
		case "image/png":
			cfg, err := png.DecodeConfig(e.Body)
			if err != nil {
				return fmt.Errorf("chart %s does not decode: %w", e.Header.Get("Content-Id"), err)
			}
			images[strings.Trim(e.Header.Get("Content-Id"), "<>")] = cfg
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(images) != 2 {
		t.Fatalf("charts %v, want 2", images)
	}
	for cid, cfg := range images {
		if cfg.Width != ChartWidth || cfg.Height != ChartHeight {
			t.Errorf("%s is %dx%d, want %dx%d", cid, cfg.Width, cfg.Height, ChartWidth, ChartHeight)
		}
		if !strings.Contains(html, `src="cid:`+cid+`"`) {
			t.Errorf("the HTML does not show %s", cid)
		}
	}
}
