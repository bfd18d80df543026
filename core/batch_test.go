package core_test

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"helpdesk/core"
	"helpdesk/core/coretest"
)

// batchMix is a batch with every kind of message the fast path must hand to
// the one-message path, or handle itself.
func batchMix() []*core.Inbound {
	msg := func(id, from, subject string, mut func(*core.Inbound)) *core.Inbound {
		in := &core.Inbound{Mailbox: "support", MessageID: id, From: core.Address{Name: strings.Split(from, "@")[0], Email: from},
			Subject: subject, Text: "text of " + id, Class: core.ClassHuman, Topic: "SEV-B", RouteRule: "test", Raw: []byte(id)}
		if mut != nil {
			mut(in)
		}
		return in
	}
	return []*core.Inbound{
		msg("b1@x", "ann@example.com", "Printer", nil),
		msg("b2@x", "bob@example.com", "Portal", func(in *core.Inbound) { in.Topic = "SEV-A" }),
		msg("b1@x", "ann@example.com", "Printer", nil), // the same message twice
		msg("b3@x", "ann@example.com", "Re: Printer", func(in *core.Inbound) { in.InReplyTo = []string{"b1@x"} }),
		msg("b4@x", "cat@example.com", "Scanner", func(in *core.Inbound) { in.Cc = []core.Address{{Email: "dan@example.com"}} }),
		msg("b5@x", "mailer-daemon@example.com", "Undelivered", func(in *core.Inbound) { in.Class = core.ClassBounce }),
		msg("b6@x", "noreply@example.com", "Newsletter", nil),
		msg("", "eve@example.com", "No Message-ID", func(in *core.Inbound) { in.Raw = []byte("raw without id") }),
		msg("b7@x", "fay@example.com", "Quiet import", func(in *core.Inbound) { in.Quiet = true; in.Topic = "" }),
	}
}

// summary renders what a store holds, independent of ids and numbers.
func summary(t *testing.T, s *core.Store) string {
	ctx := context.Background()
	list, err := s.ListTickets(ctx, core.TicketFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tk := range list {
		th, err := s.ShowTicket(ctx, tk.Number)
		if err != nil {
			t.Fatal(err)
		}
		var entries []string
		for _, e := range th.Entries {
			entries = append(entries, fmt.Sprintf("%s/%s/%s/%v", e.Kind, e.Event, e.Author, e.Body))
		}
		a := ""
		if tk.Assignee != nil {
			a = tk.Assignee.Email
		}
		out = append(out, fmt.Sprintf("%s|%s|%s|%s|%s|%v|%v|%s|%v|%s", tk.Subject, tk.Customer.Email, tk.Priority, tk.SLAPlan, tk.Team,
			tk.ResolutionDue, tk.NextEscalationAt, a, tk.Collaborators, strings.Join(entries, ";")))
	}
	mails, err := s.ClaimOutbox(ctx, 1000, time.Hour, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mails {
		out = append(out, "mail "+m.Template+" → "+m.Recipient+" irt "+m.InReplyTo)
	}
	sort.Strings(out)
	// Message-IDs minted for messages without one are random.
	return regexp.MustCompile(`hd\.0\.[0-9a-f]+@`).ReplaceAllString(strings.Join(out, "\n"), "hd.0.minted@")
}

func TestIngestBatchMatchesOneByOne(t *testing.T) {
	ctx := context.Background()
	one := coretest.SeededStore(t)
	for _, in := range batchMix() {
		if _, err := coretest.Ingest(ctx, one, in, t0); err != nil {
			t.Fatal(err)
		}
	}
	batch := coretest.SeededStore(t)
	cp := &core.Checkpoint{Mailbox: "support", Folder: "INBOX", UIDValidity: 1, LastUID: 9}
	res, err := batch.IngestBatch(ctx, batchMix(), cp, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !res[2].Duplicate || res[0].Duplicate || !res[0].Created || res[3].Ticket != res[0].Ticket {
		t.Errorf("results %+v: want #3 a duplicate and #4 threaded onto #1's ticket", res)
	}
	if a, b := summary(t, one), summary(t, batch); a != b {
		t.Errorf("batch differs from one by one:\n--- one by one\n%s\n--- batch\n%s", a, b)
	}
	got, _, _ := batch.LoadCheckpoint(ctx, "support", "INBOX")
	if got.LastUID != 9 {
		t.Errorf("checkpoint %d, want 9", got.LastUID)
	}
	// Delivered again (a crash before the IMAP side knew): all duplicates.
	res, err = batch.IngestBatch(ctx, batchMix(), cp, t0)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if !r.Duplicate {
			t.Errorf("redelivery of #%d: %+v, want duplicate", i+1, r)
		}
	}
}
