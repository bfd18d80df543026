package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"helpdesk/core"
	"helpdesk/core/coretest"
	"helpdesk/mailin"
	"helpdesk/mailout"
)

// twoDesk is one of two helpdesk installations on one mail domain, each
// with its own database: support@ and sales@example.com.
type twoDesk struct {
	store *core.Store
	in    *mailin.Intake
	addr  core.Address
}

// Two desks on the same domain write to each other (sales opens a ticket
// at support; support's acknowledgement reaches sales, and so on): each
// mail is taken in by the other desk as real mail would be, rendered and
// built by mailout. The exchange must stop at once, not ping-pong.
func TestTwoDesksOnOneDomainDoNotLoop(t *testing.T) {
	ctx := context.Background()
	tpl, err := mailout.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	newDesk := func(local string) *twoDesk {
		s := coretest.OpenSameWith(t, coretest.SeededStore(t), core.Options{Domain: "example.com", Secret: []byte(local + "-secret")})
		addr := core.Address{Name: local, Email: local + "@example.com"}
		return &twoDesk{store: s, addr: addr, in: &mailin.Intake{Store: s, Desk: []string{addr.Email}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	}
	support, sales := newDesk("support"), newDesk("sales")
	first := fmt.Sprintf("From: Sales <sales@example.com>\r\nTo: support@example.com\r\nSubject: Quote for ACME\r\n"+
		"Message-ID: <first@example.com>\r\nDate: %s\r\n\r\nPlease send the quote.\r\n", time.Now().Format(time.RFC1123Z))
	raw, from, to := []byte(first), sales, support
	exchanged := 0
	for round := 0; round < 10 && raw != nil; round++ {
		if _, err := to.in.Deliver(ctx, mailin.Source{Mailbox: "inbox"}, raw); err != nil {
			t.Fatal(err)
		}
		raw = nil
		mails, err := to.store.ClaimOutbox(ctx, 100, time.Hour, time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mails {
			r, err := tpl.Render(m.Template, m.Data)
			if err != nil {
				t.Fatal(err)
			}
			msg, env, err := mailout.Build(m, r, to.addr, to.store.Domain(), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if core.BaseAddress(env.To[0]) == from.addr.Email {
				raw = msg // the mail that reaches the other desk
				exchanged++
			}
		}
		from, to = to, from
	}
	if exchanged > 1 {
		t.Errorf("%d mails went between the desks, want at most the one acknowledgement", exchanged)
	}
	list, _ := sales.store.ListTickets(ctx, core.TicketFilter{})
	if len(list) != 0 {
		t.Errorf("sales opened %d tickets from support's automatic mail", len(list))
	}
}
