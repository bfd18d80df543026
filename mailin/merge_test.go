package mailin

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"helpdesk/core"
	"helpdesk/core/coretest"
)

// A customer who writes twice: the agent merges the second ticket into
// the first by mail. The thread moves, the customer is told once, and a
// reply to the merged ticket's mail lands on the first.
func TestMergeAndLinkByMail(t *testing.T) {
	d := newDesk(t)
	first := d.newTicket("Greg <greg@example.com>", "support@desk.test", "Trackpad", "It is dead.")
	d.deliver("From: Greg <greg@example.com>\r\nTo: support@desk.test\r\nSubject: Trackpad again\r\n", "Still dead, did you get my mail?")
	mails, err := d.s.ClaimOutbox(context.Background(), 100, time.Hour, d.now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var ackOfSecond string
	for _, m := range mails {
		if m.Template == core.TemplateAck {
			ackOfSecond = m.MessageID
		}
	}
	second := first + 1
	d.agentReply(second, "admin@desk.test", fmt.Sprintf("/merge #%d", first))
	if got := d.outbox(); !has(got, "merged→greg") || has(got, "resolved→greg") {
		t.Errorf("mails after the merge: %v, want one merge notice to Greg", got)
	}
	a, b := d.thread(first), d.thread(second)
	if b.Ticket.Status != core.StatusClosed || b.Ticket.MergedInto != first {
		t.Errorf("merged ticket %+v, want closed and pointing at %d", b.Ticket, first)
	}
	messages := 0
	for _, e := range a.Entries {
		if e.Kind == core.EntryMessage {
			messages++
		}
	}
	if messages != 2 {
		t.Errorf("%d customer messages on the first ticket, want both", messages)
	}
	out := d.deliver(fmt.Sprintf("From: Greg <greg@example.com>\r\nTo: support@desk.test\r\nSubject: Re: [#%d] Trackpad again\r\n"+
		"In-Reply-To: <%s>\r\n", second, ackOfSecond), "Any news?")
	if out.Ticket != first {
		t.Errorf("a reply to the merged ticket's mail went to %d, want %d", out.Ticket, first)
	}

	third := d.newTicket("Ann <ann@example.com>", "support@desk.test", "Trackpad too", "Mine as well.")
	d.agentReply(third, "admin@desk.test", fmt.Sprintf("/link #%d", first))
	if l := d.thread(first).Ticket.Linked; len(l) != 1 || l[0] != third {
		t.Errorf("first ticket links %v, want [%d]", l, third)
	}
	if l := d.thread(third).Ticket.Linked; len(l) != 1 || l[0] != first {
		t.Errorf("third ticket links %v, want [%d]", l, first)
	}
	d.agentReply(third, "admin@desk.test", fmt.Sprintf("/merge #%d", third))
	if got := d.outbox(); !has(got, "command_error→") {
		t.Errorf("merging a ticket into itself: %v, want an error mail", got)
	}
}

// /reply NAME sends a canned response, filled with the ticket's fields,
// after what the agent wrote; an unknown name is an error mail.
func TestCannedReply(t *testing.T) {
	d := newDesk(t)
	d.s = coretest.OpenSameWith(t, d.s, core.Options{Canned: map[string]string{
		"password-reset": "Reset it at https://example.com/reset for {{.CustomerEmail}} (ticket [#{{.Number}}]).",
	}})
	d.in.Store = d.s
	n := d.newTicket("Greg <greg@example.com>", "support@desk.test", "Password", "I forgot my password.")
	d.agentReply(n, "admin@desk.test", "/reply password-reset\nHello Greg,")
	th := d.thread(n)
	last := th.Entries[len(th.Entries)-1]
	want := fmt.Sprintf("Hello Greg,\n\nReset it at https://example.com/reset for greg@example.com (ticket [#%d]).", n)
	if last.Kind != core.EntryResponse || last.Body != want {
		t.Errorf("last entry %s %q, want the response %q", last.Kind, last.Body, want)
	}
	if got := d.outbox(); !has(got, "response→greg") {
		t.Errorf("mails %v, want the response to Greg", got)
	}
	d.agentReply(n, "admin@desk.test", "/reply no-such-thing")
	if got := d.outbox(); !has(got, "command_error→") || has(got, "response→greg") {
		t.Errorf("mails %v, want only an error mail", got)
	}
}

// /queue alone to the desk address answers with the agent's queue: their
// team's unassigned tickets here, not the admin's emergency; no ticket is
// opened for the request.
func TestQueueByMail(t *testing.T) {
	d := newDesk(t)
	mine := d.newTicket("Greg <greg@example.com>", "support@desk.test", "Printer", "On fire.")      // SEV-C: Garnet's team
	notMine := d.newTicket("Jane <jane@example.com>", "emergency@desk.test", "Portal down", "404.") // SEV-A: the admin's
	out := d.deliver("From: Garnet <garnet@desk.test>\r\nTo: support@desk.test\r\nSubject: queue\r\n", "/queue")
	if out.Created || out.Ticket != 0 {
		t.Fatalf("%+v: the request opened a ticket", out)
	}
	mails, err := d.s.ClaimOutbox(context.Background(), 100, time.Hour, d.now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var queue *core.OutMail
	for i, m := range mails {
		if m.Template == core.TemplateQueue {
			queue = &mails[i]
		}
	}
	if queue == nil || !strings.Contains(queue.Recipient, "garnet@desk.test") {
		t.Fatalf("no queue mail to Garnet among %d mails", len(mails))
	}
	list := fmt.Sprint(queue.Data.Tickets)
	if !strings.Contains(list, fmt.Sprint(mine)) || strings.Contains(list, fmt.Sprint(notMine)) {
		t.Errorf("queue %s, want %d and not %d", list, mine, notMine)
	}
}

// A web form sends from its own no-reply address with the customer in
// Reply-To: the ticket is the customer's, and they are acknowledged.
func TestWebFormSenderMakesReplyToTheCustomer(t *testing.T) {
	d := newDesk(t)
	d.in.FormSenders = []string{"noreply@forms.example.com"}
	out := d.deliver("From: Contact form <noreply@forms.example.com>\r\nReply-To: Ann Customer <ann@example.com>\r\n"+
		"To: support@desk.test\r\nSubject: Contact form: invoice question\r\n", "Name: Ann\nMessage: where is my invoice?")
	if !out.Created {
		t.Fatalf("%+v: no ticket", out)
	}
	if c := d.thread(out.Ticket).Ticket.Customer; c.Email != "ann@example.com" || c.Name != "Ann Customer" {
		t.Errorf("customer %+v, want Ann from Reply-To", c)
	}
	if got := d.outbox(); !has(got, "ack→ann@example.com") {
		t.Errorf("mails %v, want Ann acknowledged", got)
	}
}

// Collaborators: the customer's reply-all adds the people copied (a
// stranger's Cc adds nobody), /cc and /uncc by mail, and a response goes
// to the customer with the collaborators in Cc, one mail.
func TestCollaboratorsInOneMail(t *testing.T) {
	d := newDesk(t)
	n := d.newTicket("Greg <greg@example.com>", "support@desk.test", "Printer", "On fire.")
	d.deliver(fmt.Sprintf("From: Greg <greg@example.com>\r\nTo: support@desk.test\r\nCc: Boss <boss@example.com>, support@desk.test\r\n"+
		"Subject: Re: [#%d] Printer\r\n", n), "Adding my boss.")
	d.deliver(fmt.Sprintf("From: Eve <eve@evil.test>\r\nTo: support@desk.test\r\nCc: Mallory <mallory@evil.test>\r\n"+
		"Subject: Re: [#%d] Printer\r\n", n), "Me too.")
	d.agentReply(n, "admin@desk.test", "/cc ops@example.com\n/uncc boss@example.com\nWe are on it.")
	d.agentReply(n, "admin@desk.test", "/cc boss@example.com\nStill on it.")
	if c := d.thread(n).Ticket.Collaborators; fmt.Sprint(c) != "[boss@example.com ops@example.com]" {
		t.Errorf("collaborators %v, want boss (again) and ops, never mallory", c)
	}
	mails, err := d.s.ClaimOutbox(context.Background(), 100, time.Hour, d.now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var responses []core.OutMail
	for _, m := range mails {
		if m.Template == core.TemplateResponse {
			responses = append(responses, m)
		}
	}
	if len(responses) != 2 {
		t.Fatalf("%d response mails, want one per response", len(responses))
	}
	last := responses[0] // the later response
	for _, r := range responses {
		if r.ID > last.ID {
			last = r
		}
	}
	if !strings.Contains(last.Recipient, "greg@example.com") || !strings.Contains(last.Cc, "boss@example.com") ||
		!strings.Contains(last.Cc, "ops@example.com") || strings.Contains(last.Cc, "mallory") {
		t.Errorf("last response to %q cc %q, want Greg with boss and ops in Cc", last.Recipient, last.Cc)
	}
}

// An agent forwards a customer's mail to the desk, as an attachment or
// inline, with /customer or without: the ticket is the customer's, the
// agent named as its opener; the customer is acknowledged when the
// agent's mail proves it is theirs.
func TestAgentForwardOpensTicketForCustomer(t *testing.T) {
	original := "From: Ann Customer <ann@example.com>\r\nTo: garnet@desk.test\r\nSubject: Screen broken\r\n" +
		"Message-ID: <ann-orig@example.com>\r\n\r\nMy screen is broken.\r\n"
	for _, c := range []struct {
		name, headers, body string
		acked               bool
	}{
		{"as attachment, proven by DKIM", "Authentication-Results: mx.desk.test; dkim=pass header.d=desk.test\r\n" +
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=f\r\n",
			"--f\r\nContent-Type: text/plain\r\n\r\nPlease help Ann.\r\n--f\r\nContent-Type: message/rfc822\r\n\r\n" + original + "--f--", true},
		{"inline with /customer, unproven", "",
			"/customer\r\n\r\n---------- Forwarded message ---------\r\nFrom: Ann Customer <ann@example.com>\r\n" +
				"Date: Mon, 2 Mar 2026 08:00:00 +0000\r\nSubject: Screen broken\r\nTo: <garnet@desk.test>\r\n\r\nMy screen is broken.", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := newDesk(t)
			out := d.deliver("From: Garnet <garnet@desk.test>\r\nTo: support@desk.test\r\nSubject: Fwd: Screen broken\r\n"+c.headers, c.body)
			if !out.Created {
				t.Fatalf("%+v: no ticket", out)
			}
			th := d.thread(out.Ticket)
			if th.Ticket.Customer.Email != "ann@example.com" || th.Ticket.Subject != "Screen broken" {
				t.Errorf("ticket %q for %s, want Ann's", th.Ticket.Subject, th.Ticket.Customer.Email)
			}
			opener := ""
			for _, e := range th.Entries {
				if e.Event == core.EventOpenedFor {
					opener = e.Author
				}
				if e.Kind == core.EntryMessage && !strings.Contains(e.Body, "My screen is broken.") {
					t.Errorf("message %q, want Ann's text", e.Body)
				}
			}
			if opener != "Garnet" {
				t.Errorf("opened by %q, want Garnet", opener)
			}
			if got := d.outbox(); has(got, "ack→ann@example.com") != c.acked {
				t.Errorf("mails %v: Ann acknowledged %v, want %v", got, !c.acked, c.acked)
			}
		})
	}
}
