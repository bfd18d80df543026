package mailout_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"
	"time"

	"helpdesk/core"
	"helpdesk/core/coretest"
	"helpdesk/mailout"
	"helpdesk/mailout/mailouttest"
)

// The new-ticket alert carries the customer's file; over the attachment
// limit it lists the file with a download link instead.
func TestCustomerFileReachesTheAgents(t *testing.T) {
	pdf := bytes.Repeat([]byte("%PDF-1.4 log\n"), 1000)
	raw := "From: Greg <greg@example.com>\r\nTo: support@desk.test\r\nSubject: Log\r\nMessage-ID: <log@example.com>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nLog.\r\n" +
		"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=log.pdf\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString(pdf) + "\r\n--b--\r\n"
	for _, c := range []struct {
		name  string
		limit int64
	}{{"attached", 0}, {"linked", 1000}} {
		t.Run(c.name, func(t *testing.T) {
			s := coretest.OpenSameWith(t, coretest.SeededStore(t), core.Options{AttachLimit: c.limit, StatusBaseURL: "https://help.example.com"})
			in := &core.Inbound{Mailbox: "support", MessageID: "log@example.com", From: core.Address{Name: "Greg", Email: "greg@example.com"},
				Subject: "Log", Text: "Log.", Class: core.ClassHuman, Raw: []byte(raw),
				Attach: []core.Attachment{{Filename: "log.pdf", ContentType: "application/pdf", Size: int64(len(pdf))}}}
			if _, err := coretest.Ingest(context.Background(), s, in, time.Now()); err != nil {
				t.Fatal(err)
			}
			sink := mailouttest.Start(t)
			startSender(t, s, sink, &clock{t: time.Now()})
			var alert *mailouttest.Mail
			for _, m := range sink.WaitFor(2, 10*time.Second) {
				if m.To[0] == "admin@desk.test" {
					alert = &m
				}
			}
			if alert == nil {
				t.Fatal("no alert to the admin")
			}
			files := mailout.Files(alert.Data)
			text, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(alert.Data)))
			switch c.name {
			case "attached":
				if len(files) != 1 || files[0].Name != "log.pdf" || !bytes.Equal(files[0].Data, pdf) {
					t.Errorf("alert files %d, want log.pdf as sent", len(files))
				}
			case "linked":
				if len(files) != 0 || !strings.Contains(string(text), "https://help.example.com/file/") {
					t.Errorf("alert carries %d files and no link:\n%s", len(files), text)
				}
			}
		})
	}
}

// A response to a ticket with a collaborator is one mail: the customer in
// To, the collaborator in Cc, both in the envelope.
func TestResponseCopiesCollaboratorsInOneMail(t *testing.T) {
	ctx := context.Background()
	s := coretest.SeededStore(t)
	in := &core.Inbound{Mailbox: "support", MessageID: "cc-1@example.com", From: core.Address{Name: "Greg", Email: "greg@example.com"},
		Cc: []core.Address{{Name: "Boss", Email: "boss@example.com"}}, Subject: "Printer", Text: "On fire.", Class: core.ClassHuman,
		Topic: "SEV-A", Raw: []byte("cc-1")}
	res, err := coretest.Ingest(ctx, s, in, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Act(ctx, res.Ticket, "admin@desk.test", nil, "On it.", time.Now()); err != nil {
		t.Fatal(err)
	}
	sink := mailouttest.Start(t)
	startSender(t, s, sink, &clock{t: time.Now()})
	var got []mailouttest.Mail
	for _, m := range sink.WaitFor(3, 10*time.Second) { // acknowledgement, alert, response
		h := m.Header()
		if subj, _ := h.Subject(); strings.Contains(subj, "Printer") && strings.Contains(string(m.Data), "On it.") {
			got = append(got, m)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d response mails, want one", len(got))
	}
	h := got[0].Header()
	cc, _ := h.AddressList("Cc")
	if len(cc) != 1 || cc[0].Address != "boss@example.com" || strings.Join(got[0].To, ",") != "greg@example.com,boss@example.com" {
		t.Errorf("Cc %v, envelope %v, want boss in Cc and both in the envelope", cc, got[0].To)
	}
}

// Brands: a ticket's mail goes out from the mailbox it came in on, with
// that mailbox's name, and replies come back there.
func TestTicketMailFromItsMailbox(t *testing.T) {
	s := coretest.OpenSameWith(t, coretest.SeededStore(t), core.Options{Senders: map[string]core.Address{
		"emergency": {Name: "Emergency Desk", Email: "emergency@desk.test"}}})
	ingestGreg(t, s, time.Now()) // arrives on the emergency mailbox
	sink := mailouttest.Start(t)
	startSender(t, s, sink, &clock{t: time.Now()})
	for _, m := range sink.WaitFor(2, 10*time.Second) {
		if m.To[0] != "greg@example.com" {
			continue
		}
		h := m.Header()
		from, _ := h.AddressList("From")
		rt, _ := h.AddressList("Reply-To")
		if len(from) != 1 || from[0].Address != "emergency@desk.test" || from[0].Name != "Emergency Desk" ||
			len(rt) != 1 || !strings.HasPrefix(rt[0].Address, "emergency+") || m.From != "emergency@desk.test" {
			t.Errorf("From %v, Reply-To %v, envelope %s: want the emergency desk", from, rt, m.From)
		}
		return
	}
	t.Fatal("no acknowledgement to Greg")
}
