package mailout_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"helpdesk/core"
	"helpdesk/core/coretest"
	"helpdesk/mailout/mailouttest"
)

// From headers as real senders write them. Each customer opens a ticket
// and gets an acknowledgement and an agent's response through the SMTP
// peer; both must arrive with the name as the customer wrote it (line
// breaks folded to spaces) and no header or body line made of it.
var fromHeaders = []string{
	`"Doe, John" <john@example.com>`,                                // Outlook and Exchange: Last, First
	`"Müller, Hans-Jürgen" <hj@example.de>`,                         // the same, outside ASCII
	`=?utf-8?q?M=C3=BCller=2C_Hans?= <hm@example.de>`,               // an encoded word hiding the comma
	`=?iso-8859-1?q?Ren=E9_O'Brien?= <rene@example.fr>`,             // Latin-1 encoded word, apostrophe
	`"John \"JJ\" Doe" <jj@example.com>`,                            // quotes inside
	`"john@example.org" <john2@example.com>`,                        // an address as the name
	`"Support; Billing" <billing@example.com>`,                      // semicolon
	`"C:\\Users\\John" <path@example.com>`,                          // backslashes
	`"<John>" <angle@example.com>`,                                  // angle brackets
	`"Dr. John Q. Public, Jr." <dr@example.com>`,                    // dots and a comma
	`John (Work) <paren@example.com>`,                               // a comment
	`"Grég Ünïcode" <greg@example.com>`,                             // accents
	`山田 太郎 <yamada@example.jp>`,                                     // CJK, raw UTF-8 (RFC 6532)
	`=?utf-8?b?44Gf44KN44GG?= <taro@example.jp>`,                    // base64 encoded word
	`"محمد علي" <mohamed@example.com>`,                              // right-to-left
	`"🎧 Headset Fan" <emoji@example.com>`,                           // emoji
	`=?utf-8?q?Eve=0D=0ABcc=3A_x=40evil=2Etest?= <eve@example.com>`, // CR/LF smuggled in an encoded word
	`"=?utf-8?q?not_decoded?=" <literal@example.com>`,               // looks encoded, is quoted text
	`"A very long display name that goes on and on past the seventy-eight character line limit of RFC 5322" <long@example.com>`,
	`"\"" <quote@example.com>`, // a lone quote
	`"@" <at@example.com>`,     // a lone @
	`plain@example.com`,        // no name
}

func TestDisplayNamesReachTheCustomer(t *testing.T) {
	ctx := context.Background()
	s := coretest.SeededStore(t)
	sink := mailouttest.Start(t)
	clk := &clock{t: time.Now()}
	want := map[string]string{} // email → name as intake reads it
	for i, h := range fromHeaders {
		from, err := mail.ParseAddress(h)
		if err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		in := &core.Inbound{Mailbox: "support", MessageID: fmt.Sprintf("name-%d@example.com", i),
			From: core.Address{Name: from.Name, Email: from.Address}, Subject: "Names", Text: "Hello.", Class: core.ClassHuman,
			Raw: []byte(h)}
		res, err := coretest.Ingest(ctx, s, in, clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Act(ctx, res.Ticket, "admin@desk.test", nil, "We are on it.", clk.Now()); err != nil {
			t.Fatal(err)
		}
		want[from.Address] = strings.Join(strings.Fields(from.Name), " ")
	}
	startSender(t, s, sink, clk)
	got := map[string][]string{} // email → templates received
	for _, m := range sink.WaitFor(len(fromHeaders)*3, 20*time.Second) {
		h := m.Header()
		to, err := h.AddressList("To")
		if err != nil || len(to) != 1 {
			t.Errorf("To of a mail to %v unreadable: %v", m.To, err)
			continue
		}
		name, ok := want[to[0].Address]
		if !ok {
			continue // an alert to an agent
		}
		if to[0].Name != name {
			t.Errorf("To name %q, want %q", to[0].Name, name)
		}
		for _, line := range strings.Split(string(m.Data), "\n") {
			if strings.HasPrefix(line, "Bcc:") {
				t.Errorf("mail to %s has a line %q", to[0].Address, line)
			}
		}
		subj, _ := h.Subject()
		got[to[0].Address] = append(got[to[0].Address], subj)
	}
	for email := range want {
		if len(got[email]) != 2 {
			t.Errorf("%s received %v, want the acknowledgement and the response", email, got[email])
		}
	}
}
