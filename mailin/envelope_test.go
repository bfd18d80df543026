package mailin

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"
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
