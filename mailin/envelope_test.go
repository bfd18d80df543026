package mailin

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestEnvelopeReaderDropsPostfixEnvelopeLine(t *testing.T) {
	raw, err := os.ReadFile("testdata/pipe/postfix-local.eml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(EnvelopeReader(bytes.NewReader(raw), false))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(got, []byte("Return-Path: <greg@example.com>\n")) {
		t.Errorf("envelope line kept:\n%s", got[:min(len(got), 120)])
	}
	if !bytes.Contains(got, []byte("\nFrom here on it breaks.\n>From quoted already\n")) {
		t.Errorf("body changed without -from-quoted:\n%s", got)
	}
	p, err := Parse(got, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if p.From.Email != "greg@example.com" || p.Subject != "pipe test" || p.MessageID != "pf-pipe@example.com" {
		t.Errorf("parsed From %q, Subject %q, Message-ID %q", p.From.Email, p.Subject, p.MessageID)
	}
}

func TestEnvelopeReaderCases(t *testing.T) {
	for _, c := range []struct {
		name, in, want string
		quoted         bool
	}{
		{"no envelope", "From: a@x\r\n\r\nFrom me\r\n", "From: a@x\r\n\r\nFrom me\r\n", false},
		{"envelope only first line", "From a@x Sun Nov 29 12:00:00 2026\nFrom: a@x\n\nbody\n", "From: a@x\n\nbody\n", false},
		{"mboxrd unquoting", "From a@x Sun Nov 29 12:00:00 2026\nFrom: a@x\n\n>From one\n>>From two\n> From not\nx>From no\n",
			"From: a@x\n\nFrom one\n>From two\n> From not\nx>From no\n", true},
		{"quoting kept without the flag", "From a@x date\nFrom: a@x\n\n>From one\n", "From: a@x\n\n>From one\n", false},
		{"empty", "", "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			// One byte at a time: line handling must not depend on read sizes.
			got, err := io.ReadAll(EnvelopeReader(iotest.OneByteReader(strings.NewReader(c.in)), c.quoted))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

// What AppendMbox writes, EnvelopeReader with fromQuoted gives back: the
// envelope line gone, "From " lines behind any number of ">" restored,
// CRLF as LF.
func TestAppendMboxRoundTrip(t *testing.T) {
	raw := "From: Greg <greg@example.com>\r\nSubject: quotes\r\n\r\nFrom the start:\r\n>From a quote\r\n>>From deeper\r\n From not at the head\r\n"
	var mbox bytes.Buffer
	AppendMbox(&mbox, "greg@example.com", time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), []byte(raw))
	if !strings.HasPrefix(mbox.String(), "From greg@example.com Mon Mar  2 09:00:00 2026\n") {
		t.Fatalf("envelope line: %q", mbox.String())
	}
	if !strings.Contains(mbox.String(), "\n>From the start:\n>>From a quote\n>>>From deeper\n From not") {
		t.Errorf("From lines not quoted once more:\n%s", mbox.String())
	}
	back, err := io.ReadAll(EnvelopeReader(&mbox, true))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.ReplaceAll(raw, "\r\n", "\n") + "\n"; string(back) != want {
		t.Errorf("read back %q, want %q", back, want)
	}
}
