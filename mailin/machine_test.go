package mailin

import (
	"context"
	"fmt"
	"testing"
	"time"

	"helpdesk/core"
)

// A bounce from the null sender, with no report-type, reaches the ticket
// of the mail it bounces and marks the address undeliverable; it answers
// nothing and opens nothing.
func TestNullSenderBounceReachesItsTicket(t *testing.T) {
	d := newDesk(t)
	d.deliver("From: Greg <greg@example.com>\r\nTo: support@desk.test\r\nSubject: Trackpad\r\n", "It is dead.")
	mails, err := d.s.ClaimOutbox(context.Background(), 100, time.Hour, d.now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var ack core.OutMail
	for _, m := range mails {
		if m.Template == core.TemplateAck {
			ack = m
		}
	}
	if ack.ID == 0 {
		t.Fatal("no acknowledgement queued")
	}
	bounce := fmt.Sprintf("From: MAILER-DAEMON <>\r\nTo: support@desk.test\r\nSubject: Undelivered Mail Returned to Sender\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/report; boundary=r\r\n") // no report-type, as some MTAs write
	body := "--r\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n" +
		"--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n" +
		"Final-Recipient: rfc822; greg@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n" +
		"--r\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <" + ack.MessageID + ">\r\nSubject: x\r\n\r\n--r--"
	out := d.deliver(bounce, body)
	if out.Quarantined != 0 || out.Class != core.ClassBounce || out.Created {
		t.Fatalf("outcome %+v, want a bounce stored on the ticket", out)
	}
	th := d.thread(out.Ticket)
	if last := th.Entries[len(th.Entries)-1]; last.Event != core.EventMachineMail {
		t.Errorf("last entry %+v, want the bounce as machine mail", last)
	}
	// Undeliverable now: a new ticket from Greg is not acknowledged.
	d.outbox()
	d.deliver("From: Greg <greg@example.com>\r\nTo: support@desk.test\r\nSubject: Another\r\n", "Hello?")
	if got := d.outbox(); has(got, "ack→greg") {
		t.Errorf("acknowledged an undeliverable address: %v", got)
	}
}

// Machine mail that refers to no ticket is kept and answered by nobody.
func TestMachineMailOpensNothing(t *testing.T) {
	for _, c := range []struct{ name, headers string }{
		{"no-reply sender", "From: Billing <no-reply@billing.example.com>\r\nTo: support@desk.test\r\nSubject: Your invoice\r\n"},
		{"apple vacation", "From: Ann <ann@example.com>\r\nTo: support@desk.test\r\nSubject: Auto reply: hello\r\nX-Apple-Action: VACATION\r\n"},
		{"german out of office", "From: Ann <ann@example.com>\r\nTo: support@desk.test\r\nSubject: Abwesenheitsnotiz: Hallo\r\n"},
		{"list", "From: users-request@lists.example.org\r\nTo: support@desk.test\r\nSubject: confirm 123\r\nList-Id: <users.lists.example.org>\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := newDesk(t)
			out := d.deliver(c.headers, "Automatic text.")
			if out.Created || out.Ticket != 0 || out.Quarantined != 0 || out.Duplicate {
				t.Errorf("outcome %+v, want stored without a ticket", out)
			}
			if got := d.outbox(); len(got) != 0 {
				t.Errorf("mail sent: %v", got)
			}
		})
	}
}
