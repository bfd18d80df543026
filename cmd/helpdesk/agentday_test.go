package main

import (
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"helpdesk/core"
	"helpdesk/mailout"
)

// TestAgentDayThroughDovecot is an agent's day by mail, end to end: the
// daemon reads Dovecot and sends through the SMTP sink, and each step
// checks what every party received. The customer's file reaches the
// agent; a canned reply goes to the customer with the person they copied
// in Cc; the agent asks for the queue; a duplicate ticket is merged; a
// forged mail in the agent's name runs nothing; a forwarded mail opens a
// ticket for its sender; each desk answers from its own address.
func TestAgentDayThroughDovecot(t *testing.T) {
	r := newRig(t)
	r.seen = map[string]bool{}
	cfg, _ := os.ReadFile(r.config)
	os.WriteFile(r.config, append([]byte("form_senders = [\"noreply@forms.example.com\"]\n"), cfg...), 0o600)
	r.start()
	sc := r.support.Dial(t)
	appendRaw := func(raw string) { r.support.Append(t, sc, "INBOX", []byte(raw)) }

	// Greg writes with a file, copying his boss.
	file := base64.StdEncoding.EncodeToString([]byte("Touchpad: disabled\n"))
	appendRaw("From: Greg <greg@example.com>\r\nTo: support@desk.test\r\nCc: Boss <boss@example.com>\r\nSubject: Trackpad\r\n" +
		"Message-ID: <day-1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
		"Content-Type: text/plain\r\n\r\nMy trackpad is dead; device list attached.\r\n--b\r\nContent-Type: text/plain\r\n" +
		"Content-Disposition: attachment; filename=devices.txt\r\nContent-Transfer-Encoding: base64\r\n\r\n" + file + "\r\n--b--\r\n")
	first := r.waitTickets(1)[0]
	ack := r.waitSent("greg@example.com", first.Tag())
	alert := r.waitSent("garnet@desk.test", "New ticket")
	if files := mailout.Files(r.rawOf(alert)); len(files) != 1 || files[0].Name != "devices.txt" {
		t.Errorf("Garnet's alert carries %v, want devices.txt", files)
	}
	if from := r.fromOf(ack); from != "support@desk.test" {
		t.Errorf("acknowledgement from %s, want support@desk.test", from)
	}

	// Garnet answers with a canned response: Greg gets it, his boss in Cc.
	r.reply(r.support, "Garnet <garnet@desk.test>", alert, "/reply need-info\nHi Greg,")
	resp := r.waitSent("greg@example.com", first.Tag())
	if !strings.Contains(resp.body, "Hi Greg,") || !strings.Contains(resp.body, "exact error message") {
		t.Errorf("response body %q, want Garnet's words and the canned text", resp.body)
	}
	if m := r.mailByID(resp.messageID); m == nil || strings.Join(m.To, ",") != "greg@example.com,boss@example.com" {
		t.Errorf("response envelope %v, want Greg and his boss in one mail", m)
	}

	// Greg's reply-all copies Tech: Tech joins the ticket.
	appendRaw(fmt.Sprintf("From: Greg <greg@example.com>\r\nTo: %s\r\nCc: Boss <boss@example.com>, Tech <tech@example.com>\r\n"+
		"Subject: Re: %s\r\nIn-Reply-To: <%s>\r\nMessage-ID: <day-ra@example.com>\r\n\r\nAdding Tech.\r\n", resp.replyTo, resp.subject, resp.messageID))
	r.waitFor(first.Number, "Tech on the ticket", func(th core.Thread) bool {
		return strings.Contains(strings.Join(th.Ticket.Collaborators, ","), "tech@example.com")
	})

	// Garnet asks for her queue.
	appendRaw("From: Garnet <garnet@desk.test>\r\nTo: support@desk.test\r\nSubject: queue\r\nMessage-ID: <day-q@desk.test>\r\n\r\n/queue\r\n")
	if q := r.waitSent("garnet@desk.test", "Your queue"); !strings.Contains(q.body, first.Tag()) {
		t.Errorf("queue %q does not list %s", q.body, first.Tag())
	}

	// Greg writes again as a new thread; Garnet merges it into the first.
	appendRaw(string(customerMail("Greg <greg@example.com>", "support@desk.test", "Trackpad still dead", "day-2@example.com", "Any news?")))
	second := r.waitTickets(2)[0] // not acknowledged: Greg already was today
	r.reply(r.support, "Garnet <garnet@desk.test>", r.waitSent("garnet@desk.test", "New ticket"), fmt.Sprintf("/merge %s", first.Tag()))
	r.waitSent("greg@example.com", "Now handled as")
	r.waitFor(second.Number, "the merge", func(th core.Thread) bool { return th.Ticket.MergedInto == first.Number })

	// Forged mail in Garnet's name runs nothing: a two-address From with
	// her token, and headers planted by the sender (this MX is not declared
	// to strip them), one with a quoted ";", one for a public suffix.
	appendRaw(fmt.Sprintf("From: Garnet <garnet@desk.test>, Mallory <mallory@evil.test>\r\nTo: %s\r\nSubject: Re: %s\r\n"+
		"Message-ID: <day-forged@evil.test>\r\n\r\n/close\r\nDone.\r\n", alert.replyTo, alert.subject))
	for i, planted := range []string{"mx.desk.test; dkim=pass header.d=desk.test",
		`mx.desk.test; spf=pass smtp.mailfrom="x;dkim=pass header.d=desk.test"@evil.test`, "mx.desk.test; dkim=pass header.i=@test"} {
		appendRaw(fmt.Sprintf("Authentication-Results: %s\r\nFrom: Garnet <garnet@desk.test>\r\nTo: support@desk.test\r\n"+
			"Subject: Re: %s\r\nMessage-ID: <day-planted-%d@evil.test>\r\n\r\n/close\r\nDone.\r\n", planted, first.Tag(), i))
	}
	r.waitSent("garnet@desk.test", "not accepted")
	time.Sleep(2 * time.Second)
	if th := r.show(first.Number); th.Ticket.Status != core.StatusOpen {
		t.Errorf("status %s after forged /close mails", th.Ticket.Status)
	}

	// Garnet forwards Ann's mail: a ticket for Ann, not acknowledged, since
	// Garnet's mail proves nothing here (no DKIM).
	appendRaw("From: Garnet <garnet@desk.test>\r\nTo: support@desk.test\r\nSubject: Fwd: Screen\r\nMessage-ID: <day-fwd@desk.test>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=f\r\n\r\n--f\r\nContent-Type: text/plain\r\n\r\nFor Ann.\r\n" +
		"--f\r\nContent-Type: message/rfc822\r\n\r\n" + string(customerMail("Ann <ann@example.com>", "garnet@desk.test", "Screen",
		"ann-1@example.com", "My screen flickers.")) + "--f--\r\n")
	ann := r.waitTickets(3)[0]
	if ann.Customer.Email != "ann@example.com" {
		t.Errorf("newest ticket is %s's, want Ann's", ann.Customer.Email)
	}

	// /cc and /uncc by mail, and /link: the next response reaches Greg with
	// ops in Cc and his boss no more.
	r.reply(r.support, "Garnet <garnet@desk.test>", alert, fmt.Sprintf("/cc ops@example.com\n/uncc boss@example.com\n/link %s\nLooking.", ann.Tag()))
	if m := r.mailByID(r.waitSent("greg@example.com", "Trackpad").messageID); m == nil ||
		strings.Join(m.To, ",") != "greg@example.com,ops@example.com,tech@example.com" {
		t.Errorf("response after /cc and /uncc to %v, want Greg, ops and Tech", m)
	}
	if l := r.show(first.Number).Ticket.Linked; len(l) != 1 || l[0] != ann.Number {
		t.Errorf("links %v, want %d", l, ann.Number)
	}

	// A web form's mail is its Reply-To's: Kim opens the ticket and is
	// acknowledged.
	appendRaw("From: Contact form <noreply@forms.example.com>\r\nReply-To: Kim <kim@example.com>\r\nTo: support@desk.test\r\n" +
		"Subject: Contact form: invoice\r\nMessage-ID: <day-form@forms.example.com>\r\n\r\nWhere is my invoice?\r\n")
	r.waitSent("kim@example.com", "invoice")

	// The emergency desk answers from its own address.
	uc := r.urgent.Dial(t)
	r.urgent.Append(t, uc, "INBOX", customerMail("Jane <jane@example.com>", "emergency@desk.test", "Portal down", "day-j@example.com", "404."))
	if from := r.fromOf(r.waitSent("jane@example.com", "Portal down")); from != "emergency@desk.test" {
		t.Errorf("emergency acknowledgement from %s, want emergency@desk.test", from)
	}

	// What each party received, in all.
	time.Sleep(time.Second)
	// Greg: the acknowledgement, the canned response, the merge notice, the
	// last response; his boss: the first response, in the same mail; ops
	// and Tech: the last; Ann, unproven forward: none.
	for addr, want := range map[string]int{"greg@example.com": 4, "boss@example.com": 1, "ops@example.com": 1, "tech@example.com": 1,
		"ann@example.com": 0, "mallory@evil.test": 0} {
		if got := len(r.mailsTo(addr, 0)); got != want {
			t.Errorf("%s received %d mails, want %d: %v", addr, got, want, r.subjects())
		}
	}
}

// rawOf is the raw bytes of a mail the sink received.
func (r *rig) rawOf(s sent) []byte {
	if m := r.mailByID(s.messageID); m != nil {
		return m.Data
	}
	return nil
}

// fromOf is the From address of a mail the sink received.
func (r *rig) fromOf(s sent) string {
	m := r.mailByID(s.messageID)
	if m == nil {
		return ""
	}
	h := m.Header()
	from, _ := h.AddressList("From")
	if len(from) == 0 {
		return ""
	}
	return from[0].Address
}

func (r *rig) mailByID(id string) *mailSeen {
	for _, m := range r.sink.Mails() {
		h := m.Header()
		if mid, _ := h.MessageID(); mid == id {
			return &mailSeen{To: m.To, Data: m.Data, header: h}
		}
	}
	return nil
}

// mailSeen is a mail the sink received, with its parsed header.
type mailSeen struct {
	To     []string
	Data   []byte
	header mail.Header
}

func (m *mailSeen) Header() *mail.Header { return &m.header }

// With agent_auth = "token+dkim", a reply token alone (a forwarded
// notification leaked, its From spoofed) runs nothing, through Dovecot.
func TestLeakedTokenNeedsDKIMThroughDovecot(t *testing.T) {
	r := newRig(t)
	r.seen = map[string]bool{}
	cfg, _ := os.ReadFile(r.config)
	os.WriteFile(r.config, append([]byte("agent_auth = \"token+dkim\"\nverify_dkim = true\n"), cfg...), 0o600)
	r.start()
	c := r.support.Dial(t)
	r.support.Append(t, c, "INBOX", customerMail("Greg <greg@example.com>", "support@desk.test", "Printer", "leak-1@example.com", "On fire."))
	first := r.waitTickets(1)[0]
	r.waitSent("greg@example.com", first.Tag())
	alert := r.waitSent("garnet@desk.test", "New ticket")
	r.reply(r.support, "Garnet <garnet@desk.test>", alert, "/close\nDone.")
	r.waitSent("garnet@desk.test", "not accepted")
	time.Sleep(time.Second)
	if th := r.show(first.Number); th.Ticket.Status != core.StatusOpen {
		t.Errorf("status %s: a token without DKIM ran /close", th.Ticket.Status)
	}
	if got := len(r.mailsTo("greg@example.com", 0)); got != 1 {
		t.Errorf("Greg received %d mails, want only the acknowledgement", got)
	}
}
