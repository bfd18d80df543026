package core_test

import (
	"context"
	"helpdesk/core"
	"helpdesk/core/coretest"
	"strings"
	"testing"
	"time"
)

// The morning digest: each agent with an open queue gets it once a day,
// however many daemons run; an agent who opted out gets none.
func TestQueueDigestOncePerDay(t *testing.T) {
	ctx := context.Background()
	s := coretest.SeededStore(t)
	in := greg("digest-1@example.com")
	in.Topic = "SEV-C" // Garnet's team, unassigned
	if _, err := coretest.Ingest(ctx, s, in, t0); err != nil {
		t.Fatal(err)
	}
	s.ClaimOutbox(ctx, 100, 1000*time.Hour, t0.Add(time.Minute)) // the acknowledgement and alerts
	other := coretest.OpenSame(t, s)
	if n, err := s.SendQueueDigests(ctx, t0, t0.Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("first daemon sent %d digests (%v), want Garnet's alone (the admin's queue is empty)", n, err)
	}
	if n, err := other.SendQueueDigests(ctx, t0, t0.Add(time.Hour)); err != nil || n != 0 {
		t.Errorf("second daemon sent %d (%v), want none: today's went", n, err)
	}
	mails, _ := s.ClaimOutbox(ctx, 100, 1000*time.Hour, t0.Add(2*time.Hour))
	if len(mails) != 1 || mails[0].Template != core.TemplateQueue || !strings.Contains(mails[0].Recipient, "garnet@desk.test") {
		t.Errorf("mails %+v, want Garnet's queue", mails)
	}
	seed := coretest.Seed
	seed.Agents = append([]core.Agent{}, seed.Agents...)
	seed.Agents[1].NoDigest = true
	if err := s.SyncDirectory(ctx, seed); err != nil {
		t.Fatal(err)
	}
	if n, err := s.SendQueueDigests(ctx, t0.Add(24*time.Hour), t0.Add(25*time.Hour)); err != nil || n != 0 {
		t.Errorf("next day with Garnet opted out: %d digests (%v), want none", n, err)
	}
}
