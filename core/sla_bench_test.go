package core_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"helpdesk/core/coretest"
)

// BenchmarkSLATick measures one checker tick over a large open backlog:
// with nothing due (the cost must not grow with open tickets) and with
// 10,000 tickets newly due (each fires its steps: events, flags, mail).
// HELPDESK_BENCH_TICKETS sets the backlog size (default 1,000,000).
//
//	scripts/test -run '^$' -bench SLATick -benchtime 5x ./core
func BenchmarkSLATick(b *testing.B) {
	ctx := context.Background()
	total := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("HELPDESK_BENCH_TICKETS")); err == nil && v > 0 {
		total = v
	}
	const due = 10_000
	s := coretest.SeededStore(b)
	start := time.Now()
	err := s.ExecForTest(ctx, `
		INSERT INTO customers (email, created_at) VALUES ('bench@example.com', $1);
	`, t0)
	if err != nil {
		b.Fatal(err)
	}
	// Open SEV-C tickets (first response 24h, resolution 72h, default
	// ladder). The first `due` were opened 60 hours before t0, so at t0+3h
	// their first-response breach and 75 % warning are due; the rest were
	// opened at t0 and have nothing due for a day.
	err = s.ExecForTest(ctx, `
		INSERT INTO tickets (subject, status, priority, customer_id, sla_plan_id, root_message_id, created_at, updated_at,
			sla_clock_since, first_response_due, resolution_due, next_escalation_at)
		SELECT 'bench ' || g, 'open', 'normal', (SELECT id FROM customers WHERE email = 'bench@example.com'),
			(SELECT id FROM sla_plans WHERE name = 'SEV-C'), 'bench-' || g || '@example.com', o, o, o,
			o + interval '24 hours', o + interval '72 hours', o + interval '24 hours'
		FROM generate_series(1, $2::int) g,
			LATERAL (SELECT CASE WHEN g <= $3 THEN $1::timestamptz - interval '60 hours' ELSE $1::timestamptz END AS o) x`,
		t0, total, due)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.ExecForTest(ctx, `VACUUM ANALYZE tickets`); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d open tickets in %v", total, time.Since(start).Round(time.Millisecond))
	now := t0.Add(3 * time.Hour)

	b.Run("10k_due", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			for _, sql := range []string{
				`DELETE FROM sla_fired`, `DELETE FROM thread_ids WHERE message_id LIKE 'hd.%'`, `DELETE FROM outbox`, `DELETE FROM entries`,
				`UPDATE tickets SET next_escalation_at = created_at + interval '24 hours', overdue = false WHERE created_at < '` +
					t0.Format(time.RFC3339) + `'`,
			} {
				if err := s.ExecForTest(ctx, sql); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
			r, err := s.CheckSLA(ctx, now)
			if err != nil {
				b.Fatal(err)
			}
			if r.Tickets != due || r.Steps["breach"] != due || r.Steps["warn"] != due {
				b.Fatalf("%d tickets due with steps %v, want %d each breaching and warned", r.Tickets, r.Steps, due)
			}
		}
		b.ReportMetric(float64(due), "tickets/tick")
	})
	// After the tick above, nothing is due until t0+12h.
	b.Run("none_due", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			r, err := s.CheckSLA(ctx, now)
			if err != nil {
				b.Fatal(err)
			}
			if r.Tickets != 0 {
				b.Fatalf("%d tickets due, want none", r.Tickets)
			}
		}
	})
}
