package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"helpdesk/core"
	"helpdesk/mailin/mailintest"
	"helpdesk/mailout/mailouttest"
)

// sent is a mail the daemon sent, read back from the SMTP sink.
type sent struct {
	to, subject, replyTo, messageID, body string
}

func readSent(m mailouttest.Mail) sent {
	d := readMail(m.Data)
	return sent{to: m.To[0], subject: d.Subject, replyTo: d.ReplyTo, messageID: d.MessageID, body: d.Body}
}

// waitSent waits for a mail to addr whose subject contains subj, beyond the
// first skip such mails, and returns it.
func (r *rig) waitSent(addr, subj string) sent {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range r.mailsTo(addr, 0) {
			if s := readSent(m); strings.Contains(s.subject, subj) && !r.seen[s.messageID] {
				r.seen[s.messageID] = true
				return s
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Fatalf("no mail to %s with subject containing %q; mails: %v", addr, subj, r.subjects())
	return sent{}
}

func (r *rig) subjects() []string {
	var out []string
	for _, m := range r.sink.Mails() {
		s := readSent(m)
		out = append(out, s.to+": "+s.subject)
	}
	return out
}

// reply mails a reply to a mail we sent, as its recipient would from a
// mail client: to its Reply-To, quoting it below.
func (r *rig) reply(acct mailintest.Account, from string, to sent, body string) {
	r.t.Helper()
	c := acct.Dial(r.t)
	raw := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: Re: %s\r\nIn-Reply-To: <%s>\r\nReferences: <%s>\r\n"+
		"Message-ID: <%d.reply@mail.test>\r\nDate: %s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n\r\nOn a day, Support wrote:\r\n> %s\r\n",
		from, to.replyTo, to.subject, to.messageID, to.messageID, time.Now().UnixNano(), time.Now().Format(time.RFC1123Z),
		strings.ReplaceAll(body, "\n", "\r\n"), strings.ReplaceAll(strings.TrimSpace(to.body), "\n", "\n> "))
	acct.Append(r.t, c, "INBOX", []byte(raw))
}

func (r *rig) show(n int64) core.Thread {
	r.t.Helper()
	var th core.Thread
	if err := json.Unmarshal([]byte(r.cli("ticket", "show", fmt.Sprint(n), "--json")), &th); err != nil {
		r.t.Fatal(err)
	}
	return th
}

// waitFor polls the ticket until cond holds.
func (r *rig) waitFor(n int64, what string, cond func(core.Thread) bool) core.Thread {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		th := r.show(n)
		if cond(th) {
			return th
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("ticket %d: %s never happened; thread: %+v", n, what, th)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func events(th core.Thread) []string {
	var out []string
	for _, e := range th.Entries {
		if e.Kind == core.EntryEvent {
			out = append(out, e.Event)
		} else {
			out = append(out, string(e.Kind))
		}
	}
	return out
}

// TestLifecycle plays osTicket's tutorial purely by mail.
func TestLifecycle(t *testing.T) {
	r := newRig(t)
	r.seen = map[string]bool{}
	r.start()

	// 1. Greg mails the emergency address about his trackpad.
	ec := r.urgent.Dial(t)
	r.urgent.Append(t, ec, "INBOX", customerMail("Greg Employee <greg@example.com>", "emergency@desk.test",
		"Laptop trackpad stopped working", "greg-1@example.com", "My laptop trackpad does not respond at all."))
	list := r.waitTickets(1)
	if len(list) != 1 {
		t.Fatalf("got %d tickets, want 1", len(list))
	}
	greg := list[0]
	if greg.HelpTopic != "SEV-A" || greg.Priority != core.PriorityEmergency || greg.Assignee == nil || greg.Assignee.Email != "admin@desk.test" {
		t.Fatalf("Greg's ticket: topic %s priority %s assignee %v, want SEV-A emergency admin", greg.HelpTopic, greg.Priority, greg.Assignee)
	}
	ack := r.waitSent("greg@example.com", greg.Tag())
	if !strings.Contains(ack.body, "We have received your request") {
		t.Errorf("ack body: %q", ack.body)
	}
	alert := r.waitSent("admin@desk.test", "New ticket")

	// 2. The admin lowers it to SEV-C and hands it to Garnet, with a word for Greg.
	r.reply(r.support, "Ada Admin <admin@desk.test>", alert,
		"/sla SEV-C\n/priority low\n/assign Garnet\n\nThis is not an emergency; Garnet from Level 1 Support will take it from here.")
	th := r.waitFor(greg.Number, "reassignment to Garnet", func(th core.Thread) bool {
		return th.Ticket.Assignee != nil && th.Ticket.Assignee.Email == "garnet@desk.test"
	})
	if th.Ticket.SLAPlan != "SEV-C" || th.Ticket.Priority != core.PriorityLow {
		t.Errorf("after the admin's mail: plan %s priority %s, want SEV-C low", th.Ticket.SLAPlan, th.Ticket.Priority)
	}
	assignment := r.waitSent("garnet@desk.test", "Assigned to you")
	explained := r.waitSent("greg@example.com", greg.Tag())
	if !strings.Contains(explained.body, "not an emergency") || strings.Contains(explained.body, "/assign") {
		t.Errorf("Greg's mail should carry the explanation and no commands: %q", explained.body)
	}
	r.waitSent("admin@desk.test", "Done")

	// 3. Garnet fixes it, documents the fix and closes the ticket.
	r.reply(r.support, "Garnet <garnet@desk.test>", assignment, "/close\nRe-enabled the trackpad in Windows Device Manager.")
	r.waitFor(greg.Number, "closing", func(th core.Thread) bool { return th.Ticket.Status == core.StatusClosed })
	fix := r.waitSent("greg@example.com", greg.Tag())
	if !strings.Contains(fix.body, "Re-enabled the trackpad in Windows Device Manager.") {
		t.Errorf("Greg did not get the fix: %q", fix.body)
	}
	closed := r.tickets("closed")
	if len(closed) != 1 || closed[0].Number != greg.Number {
		t.Errorf("ticket list --status closed: %v, want Greg's ticket", closed)
	}
	th = r.show(greg.Number)
	want := []string{"created", "routed", "message", "sla", "priority", "assigned", "response", "closed", "response"}
	if got := strings.Join(events(th), ","); got != strings.Join(want, ",") {
		t.Errorf("thread of Greg's ticket:\n got  %s\n want %s", got, strings.Join(want, ","))
	}
	human := r.cli("ticket", "show", fmt.Sprint(greg.Number))
	for _, s := range []string{"event sla", "Ada Admin", "event assigned", "event closed", "Garnet", "Device Manager"} {
		if !strings.Contains(human, s) {
			t.Errorf("ticket show lacks %q:\n%s", s, human)
		}
	}

	// 4. Jane, a customer, cannot pay: SEV-B. The admin raises it to SEV-A and answers.
	sc := r.support.Dial(t)
	r.support.Append(t, sc, "INBOX", customerMail("Jane Customer <jane@example.org>", "support@desk.test",
		"Customer portal returns 404", "jane-1@example.org", "The portal returns 404 and I cannot pay my invoice."))
	list = r.waitTickets(2)
	var jane core.Ticket
	for _, tk := range list {
		if tk.Customer.Email == "jane@example.org" {
			jane = tk
		}
	}
	if jane.HelpTopic != "SEV-B" || jane.SLAPlan != "SEV-B" {
		t.Fatalf("Jane's ticket: topic %q plan %q, want SEV-B", jane.HelpTopic, jane.SLAPlan)
	}
	r.waitSent("jane@example.org", jane.Tag())
	janeAlert := r.waitSent("admin@desk.test", "New ticket")
	r.reply(r.support, "Ada Admin <admin@desk.test>", janeAlert,
		"/sla SEV-A\nWe are on it: the portal is being restored now, and your payment link will work within the hour.")
	th = r.waitFor(jane.Number, "raise to SEV-A", func(th core.Thread) bool { return th.Ticket.SLAPlan == "SEV-A" })
	if !th.Ticket.ResolutionDue.Before(*jane.ResolutionDue) {
		t.Errorf("resolution due %v, want earlier than SEV-B's %v", th.Ticket.ResolutionDue, jane.ResolutionDue)
	}
	answer := r.waitSent("jane@example.org", jane.Tag())
	if !strings.Contains(answer.body, "portal is being restored") {
		t.Errorf("Jane's answer: %q", answer.body)
	}
	r.kill(9)
}
