package mailin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"helpdesk/core"
	"helpdesk/core/coretest"
)

// FuzzParse feeds arbitrary bytes through everything Deliver does before
// the database (parsing, classification, quote stripping, command parsing,
// routing), then through core's sanitising, and checks what would be
// stored: valid UTF-8 and no NUL in any field, no line break in a one-line
// value, and every command with a name. Nothing may panic or hang.
//
//	go test -fuzz FuzzParse -fuzztime 2m ./mailin
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"testdata/machine", "testdata/mime", "testdata/malformed", "testdata/pipe"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
		for _, name := range files {
			if b, err := os.ReadFile(name); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte("From: a@b\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\n--x--\r\n"))
	in := &Intake{Store: coretest.NewStore(f), Desk: []string{"support@desk.test"}, Log: quiet(),
		Limits: Limits{MaxBytes: 1 << 20, MaxHeaderBytes: 64 << 10, MaxDepth: 10, MaxParts: 100}}
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := in.Prepare(Source{Mailbox: "support", DefaultTopic: "SEV-C"}, raw)
		if err != nil {
			return // quarantined with its bytes: nothing else is stored
		}
		m := p.Inbound
		m.Sanitize()
		checkStorable(t, m)
	})
}

// checkStorable fails t for any value PostgreSQL would refuse or a mail
// header could be split by.
func checkStorable(t *testing.T, m *core.Inbound) {
	t.Helper()
	text := func(field, v string) {
		if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			t.Errorf("%s not storable: %q", field, v)
		}
	}
	line := func(field, v string) {
		text(field, v)
		if strings.ContainsAny(v, "\r\n") {
			t.Errorf("%s has a line break: %q", field, v)
		}
	}
	line("subject", m.Subject)
	line("message-id", m.MessageID)
	line("from name", m.From.Name)
	line("from email", m.From.Email)
	text("text", m.Text)
	text("command rest", m.CommandRest)
	for _, a := range m.Cc {
		line("cc name", a.Name)
		line("cc email", a.Email)
	}
	for _, a := range m.Attach {
		line("filename", a.Filename)
		line("content type", a.ContentType)
	}
	for _, id := range append(append([]string{}, m.InReplyTo...), m.References...) {
		line("reference", id)
	}
	for _, c := range m.Commands {
		if c.Name == "" {
			t.Errorf("empty command name from %q", c.Raw)
		}
		line("command", c.Raw)
	}
}

// The seed corpus itself passes, so the fuzzer starts from storable mail.
func TestMalformedSeedsAreStorable(t *testing.T) {
	in := &Intake{Store: coretest.NewStore(t), Desk: []string{"support@desk.test"}, Log: quiet()}
	files, _ := filepath.Glob("testdata/malformed/*.eml")
	if len(files) < 5 {
		t.Fatalf("%d malformed samples", len(files))
	}
	for _, name := range files {
		raw, _ := os.ReadFile(name)
		p, err := in.Prepare(Source{Mailbox: "support"}, raw)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		p.Sanitize()
		checkStorable(t, p.Inbound)
	}
}
