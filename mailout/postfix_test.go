package mailout_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"helpdesk/core"
	"helpdesk/core/coretest"
	"helpdesk/mailout"
	"helpdesk/mailout/mailouttest"
)

// TestThroughPostfix sends an acknowledgement through a real Postfix, which
// relays it to the sink, and checks the headers as delivered.
func TestThroughPostfix(t *testing.T) {
	sink := mailouttest.Start(t)
	relay := mailouttest.StartPostfix(t, mailouttest.Postfix{RelayTo: sink.Addr})
	s := coretest.SeededStore(t)
	res, err := coretest.Ingest(context.Background(), s, &core.Inbound{Mailbox: "support", MessageID: "greg-pf@example.com",
		From: core.Address{Name: "Grég Ünïcode", Email: "greg@example.com"}, Subject: "Trackpad – kaputt ✓",
		Text: "It stopped.", Class: core.ClassHuman, Raw: []byte("raw")}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The sender speaks to Postfix, which relays to the sink.
	startSender(t, s, sink, &clock{t: time.Now()}, func(snd *mailout.Sender) { snd.SMTP.Addr, snd.Conns = relay, 1 })
	var got *mailouttest.Mail
	deadline := time.Now().Add(30 * time.Second)
	for got == nil && time.Now().Before(deadline) {
		for _, m := range sink.Mails() {
			if m.To[0] == "greg@example.com" {
				got = &m
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got == nil {
		t.Fatalf("nothing reached the sink through postfix; sink has %d mails", len(sink.Mails()))
	}
	h := got.Header()
	if !strings.Contains(h.Get("Received"), "mx.desk.test") {
		t.Errorf("no Received header from postfix: %q", h.Get("Received"))
	}
	subj, _ := h.Subject()
	if want := core.SubjectTag(res.Ticket) + " Trackpad – kaputt ✓"; subj != want {
		t.Errorf("subject as delivered %q, want %q", subj, want)
	}
	to, _ := h.AddressList("To")
	if len(to) != 1 || to[0].Name != "Grég Ünïcode" {
		t.Errorf("To as delivered %v", to)
	}
	if irt, _ := h.MsgIDList("In-Reply-To"); len(irt) != 1 || irt[0] != "greg-pf@example.com" {
		t.Errorf("In-Reply-To as delivered %v", irt)
	}
	if h.Get("Auto-Submitted") != "auto-replied" || h.Get("X-Helpdesk-Loop") == "" {
		t.Errorf("loop headers lost on the way: %v", h)
	}
	if mid, _ := h.MessageID(); !strings.HasSuffix(mid, "@desk.test") {
		t.Errorf("Message-ID %q not ours", mid)
	}
}
