package mailin

import (
	"fmt"
	"testing"

	"helpdesk/core"
)

func TestParseCommandsNames(t *testing.T) {
	for _, c := range []struct {
		in    string
		names []string
	}{
		{"/close\nDone.", []string{"close"}},
		{"/assign garnet\n/priority high\n\nHello", []string{"assign", "priority"}},
		{`/"`, nil},                                 // found by fuzzing: no name, not a command
		{"/ close", nil},                            // a slash and a space is text
		{"/etc/hosts is broken\n/close", nil},       // a path, so text; nothing after it counts
		{"/'' x", nil},                              // quotes only
		{"/Close-Ticket", []string{"close-ticket"}}, // an unknown name is core's error to report
	} {
		cmds, _ := ParseCommands(c.in)
		var got []string
		for _, cmd := range cmds {
			got = append(got, cmd.Name)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.names) {
			t.Errorf("ParseCommands(%q) names %v, want %v", c.in, got, c.names)
		}
	}
}

// A command hidden in an agent's HTML mail is not run: only what a person
// sees counts.
func TestHiddenCommandInAgentHTMLIsNotRun(t *testing.T) {
	d := newDesk(t)
	n := d.newTicket("Greg <greg@example.com>", "support@desk.test", "Trackpad", "It is dead.")
	html := `<html><body><p>Looking into it.</p><div style="display:none">/close</div></body></html>`
	d.deliver(fmt.Sprintf("From: Garnet <garnet@desk.test>\r\nTo: support+%s@desk.test\r\nSubject: Re: [#%d] x\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n", d.token(n, "garnet@desk.test"), n), html)
	th := d.thread(n)
	if th.Ticket.Status != core.StatusOpen {
		t.Errorf("status %s: the hidden /close ran", th.Ticket.Status)
	}
	last := th.Entries[len(th.Entries)-1]
	if last.Kind != core.EntryResponse || last.Body != "Looking into it." {
		t.Errorf("last entry %s %q, want the visible text as a response", last.Kind, last.Body)
	}
}
