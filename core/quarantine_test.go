package core_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"helpdesk/core"
	"helpdesk/core/coretest"
)

// A message spooled in chunks comes back byte for byte; the same bytes
// spooled again are kept once; a stream past the cap keeps nothing.
func TestQuarantineStream(t *testing.T) {
	ctx := context.Background()
	s := coretest.SeededStore(t)
	raw := make([]byte, 9<<20+123) // three chunks, the last one short
	for i := range raw {
		raw[i] = byte(i * 31)
	}
	id, err := s.QuarantineStream(ctx, "support", "message over limit", bytes.NewReader(raw), 1<<30, t0)
	if err != nil {
		t.Fatal(err)
	}
	q, err := s.QuarantineGet(ctx, id)
	if err != nil || !bytes.Equal(q.Raw, raw) {
		t.Fatalf("spooled copy differs: %d bytes, want %d (%v)", len(q.Raw), len(raw), err)
	}
	again, err := s.QuarantineStream(ctx, "support", "message over limit", bytes.NewReader(raw), 1<<30, t0)
	if err != nil || again != id {
		t.Errorf("same bytes again: id %d (%v), want %d", again, err, id)
	}
	if _, err := s.QuarantineStream(ctx, "support", "too big", bytes.NewReader(raw), 5<<20, t0); !errors.Is(err, core.ErrTooLarge) {
		t.Errorf("past the cap: %v, want ErrTooLarge", err)
	}
	list, err := s.QuarantineList(ctx)
	if err != nil || len(list) != 1 || list[0].Size != len(raw) {
		t.Errorf("quarantine list %+v (%v), want the one message of %d bytes", list, err, len(raw))
	}
}

// A corpus of bad mail costs the admins one alert at once and one digest
// an hour later counting the rest, not a mail per message.
func TestQuarantineAlertsAreDigested(t *testing.T) {
	ctx := context.Background()
	s := coretest.SeededStore(t)
	for i := 0; i < 50; i++ {
		raw := []byte(fmt.Sprintf("broken %d", i))
		if _, err := s.Quarantine(ctx, "support", fmt.Sprintf("reason %d", i), raw, nil, t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	admins := 0
	agents, _ := s.Agents(ctx)
	for _, a := range agents {
		if a.Role == "admin" {
			admins++
		}
	}
	now, err := s.ClaimOutbox(ctx, 1000, 1000*time.Hour, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(now) != admins || now[0].Data.Count != 1 {
		t.Fatalf("first minute: %d alerts %+v, want one per admin (%d) about one message", len(now), now, admins)
	}
	later, err := s.ClaimOutbox(ctx, 1000, 1000*time.Hour, t0.Add(time.Hour+time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(later) != admins || later[0].Data.Count != 49 {
		t.Fatalf("an hour later: %d alerts %+v, want one per admin counting 49", len(later), later)
	}
	if items := later[0].Data.Items; len(items) != 5 || items[0] != "2 (mailbox support): reason 1" {
		t.Errorf("digest lists %v, want the first five", items)
	}
}
