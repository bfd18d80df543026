package core_test

import (
	"context"
	"testing"
	"time"

	"helpdesk/core"
	"helpdesk/core/coretest"
)

// Retention removes the raw originals and sent mail bodies of tickets
// closed long enough ago, and old quarantined mail, in batches; the thread
// text stays, and a dry run removes nothing.
func TestRetentionPurge(t *testing.T) {
	ctx := context.Background()
	s := coretest.SeededStore(t)
	old, recent := greg("ret-old@example.com"), greg("ret-new@example.com")
	recent.Subject = "Recent"
	for _, in := range []*core.Inbound{old, recent} {
		if _, err := coretest.Ingest(ctx, s, in, t0); err != nil {
			t.Fatal(err)
		}
	}
	mails, _ := s.ClaimOutbox(ctx, 100, time.Hour, t0.Add(time.Minute))
	for _, m := range mails {
		s.MarkSent(ctx, m, t0.Add(time.Minute))
	}
	if _, err := s.Act(ctx, 1001, "admin@desk.test", []core.Command{{Name: "close", Raw: "/close"}}, "", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Quarantine(ctx, "support", "broken", []byte("broken mail"), nil, t0); err != nil {
		t.Fatal(err)
	}
	r := core.Retention{Raw: 30 * 24 * time.Hour, SentMail: 30 * 24 * time.Hour, Quarantine: 30 * 24 * time.Hour}
	now := t0.Add(40 * 24 * time.Hour)
	dry, err := s.Purge(ctx, r, 500, true, now)
	if err != nil || dry.Raw != 1 || dry.SentMail == 0 || dry.Quarantine != 1 {
		t.Fatalf("dry run %+v (%v), want the closed ticket's original, its sent mail and the quarantined message", dry, err)
	}
	if again, _ := s.Purge(ctx, r, 500, true, now); again != dry {
		t.Errorf("a dry run removed something: %+v then %+v", dry, again)
	}
	done, err := s.Purge(ctx, r, 1, false, now) // batches of one
	if err != nil || done.Raw != 1 || done.Quarantine != 1 {
		t.Fatalf("purge %+v (%v)", done, err)
	}
	th, _ := s.ShowTicket(ctx, 1001)
	for _, e := range th.Entries {
		if e.Kind == core.EntryMessage && e.Body != old.Text {
			t.Errorf("thread text %q changed, want it kept", e.Body)
		}
	}
	if left, _ := s.Purge(ctx, core.Retention{Raw: r.Raw}, 500, true, now); left.Raw != 0 {
		t.Errorf("%d originals left of closed tickets", left.Raw)
	}
	if q, _ := s.QuarantineList(ctx); len(q) != 0 {
		t.Errorf("quarantine %+v, want it purged", q)
	}
}
