package mailout

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

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
	core.TemplateSLAEscalated: func(d *core.MailData) {
		d.Late, d.Step, d.By = "1h 0m 30s", 4, "SLA plan SEV-A, step 4 of its ladder"
		d.Priority, d.Team, d.Assignee = "high", "Level 1 Support", "Garnet <garnet@desk.test>"
		d.Changes = []string{"priority: emergency → high", "assignee: taken from Ada Admin <admin@desk.test>, given to Garnet <garnet@desk.test>"}
		d.Thread = "Greg <greg@example.com>, 2026-03-02 08:00 UTC:\nMy trackpad does nothing."
	},
}

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
