package core_test

import (
	"testing"

	"helpdesk/core"
)

func TestCleanTextAndLine(t *testing.T) {
	for _, c := range []struct{ in, text, line string }{
		{"plain", "plain", "plain"},
		{"a\r\nb\tc", "a\r\nb\tc", "a b c"},
		{"nul\x00here", "nulhere", "nul here"},
		{"bad \xff\xfe utf8", "bad \uFFFD utf8", "bad \uFFFD utf8"},
		{"Frösche ✓", "Frösche ✓", "Frösche ✓"},
		{"c1\u0085ctl", "c1ctl", "c1 ctl"},
		{"line\u2028sep", "line\u2028sep", "line sep"},
		{"  Eve\r\nBcc: x@evil.test  ", "  Eve\r\nBcc: x@evil.test  ", "Eve Bcc: x@evil.test"},
		{"del\x7f", "del", "del"},
	} {
		if got := core.CleanText(c.in); got != c.text {
			t.Errorf("CleanText(%q) = %q, want %q", c.in, got, c.text)
		}
		if got := core.CleanLine(c.in); got != c.line {
			t.Errorf("CleanLine(%q) = %q, want %q", c.in, got, c.line)
		}
	}
}
