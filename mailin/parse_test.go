package mailin

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"helpdesk/core"
)

// The machine/ fixtures are real bounces, auto-replies and reports
// (sisimai/set-of-emails, BSD-2-Clause, see LICENSE.set-of-emails).
func TestClassifyRealMachineMail(t *testing.T) {
	files, err := filepath.Glob("testdata/machine/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Parse(raw, DefaultLimits)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			class, why := Classify(p, "desk.test")
			base := filepath.Base(f)
			switch {
			case strings.HasPrefix(base, "not-bounce"):
				if class != core.ClassHuman {
					t.Errorf("got %s (%s), want human", class, why)
				}
			case strings.HasPrefix(base, "arf"):
				if class != core.ClassAbuse {
					t.Errorf("got %s (%s), want abuse", class, why)
				}
			case strings.HasPrefix(base, "rfc3834"):
				if class != core.ClassAutoReply && class != core.ClassBounce {
					t.Errorf("got %s (%s), want autoreply", class, why)
				}
			default:
				if class != core.ClassBounce && class != core.ClassAutoReply {
					t.Errorf("got %s (%s), want bounce", class, why)
				}
			}
		})
	}
}

func TestHardBounceNamesRecipient(t *testing.T) {
	raw, err := os.ReadFile("testdata/machine/rfc3464-01.eml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(raw, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.HardBounced) == 0 {
		t.Fatalf("no hard-bounced recipient found; report type %q", p.ReportType)
	}
	if len(p.Embedded) == 0 {
		t.Errorf("no Message-ID found in the bounced original")
	}
}

// The mime/ fixtures are edge cases from Dovecot's and the RFCs' test mail
// (MIT, see COPYING.dovecot and LICENSE.mail-parser-MIT): none may fail to parse.
func TestParseMIMEEdgeCases(t *testing.T) {
	files, _ := filepath.Glob("testdata/mime/*.eml")
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Parse(raw, DefaultLimits)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if !utf8.ValidString(p.Text) || !utf8.ValidString(p.Subject) {
			t.Errorf("%s: text is not valid UTF-8", f)
		}
	}
}

func TestParseLimitsAndCharsets(t *testing.T) {
	nested := "From: a@example.com\r\n" + nest(30)
	cases := []struct {
		name    string
		raw     string
		lim     Limits
		wantErr string
		want    string
	}{
		{"latin1 body", "From: a@example.com\r\nSubject: =?iso-8859-1?q?caf=E9?=\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\ncaf\xe9\r\n",
			DefaultLimits, "", "café"},
		{"unknown charset kept", "From: a@example.com\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\nqapla\r\n",
			DefaultLimits, "", "qapla"},
		{"html only", "From: a@example.com\r\nContent-Type: text/html\r\n\r\n<p>Hello <b>there</b></p><script>x()</script>\r\n",
			DefaultLimits, "", "Hello there"},
		{"too big", "From: a@example.com\r\n\r\n" + strings.Repeat("x", 2000), Limits{MaxBytes: 1000}, "over limit", ""},
		{"too deep", nested, Limits{MaxDepth: 10, MaxParts: 100}, "nesting", ""},
		{"no readable header", "garbage without a colon", DefaultLimits, "read header", ""},
		{"header over limit", "From: a@example.com\r\nX-Pad: " + strings.Repeat("p", 600) + "\r\n\r\nbody\r\n",
			Limits{MaxHeaderBytes: 512}, "header over 512 bytes", ""},
		{"header just under limit", "From: a@example.com\r\nX-Pad: " + strings.Repeat("p", 400) + "\r\n\r\nshort header\r\n",
			Limits{MaxHeaderBytes: 512}, "", "short header"},
		// A LF-only header ends at its first empty line, even when a CRLF
		// blank line appears later in a long body.
		{"LF header, CRLF in long body", "From: a@example.com\nSubject: s\n\n" + strings.Repeat("line\n", 200) + "\r\n\r\nend\n",
			Limits{MaxHeaderBytes: 512}, "", "end"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Parse([]byte(c.raw), c.lim)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("got %v, want error containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil && c.want != "" {
				t.Fatal(err)
			}
			if c.want != "" && !strings.Contains(p.Text+p.Subject, c.want) {
				t.Errorf("text %q subject %q, want %q", p.Text, p.Subject, c.want)
			}
		})
	}
}

// nest builds a well-formed entity n multipart levels deep.
func nest(n int) string {
	if n == 0 {
		return "Content-Type: text/plain\r\n\r\nbottom\r\n"
	}
	b := "b" + strconv.Itoa(n)
	return "Content-Type: multipart/mixed; boundary=" + b + "\r\n\r\n--" + b + "\r\n" + nest(n-1) + "--" + b + "--\r\n"
}
