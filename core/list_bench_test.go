package core_test

import (
	"context"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"helpdesk/core"
	"helpdesk/core/coretest"
)

// BenchmarkTicketList runs every `ticket list` filter, alone and combined,
// on a million tickets with realistic assignment (20 agents, 4 teams,
// 100,000 customers, three years, most tickets closed), a page of 100 at a
// time, and checks that no plan scans the tickets table.
// HELPDESK_BENCH_TICKETS sets the number (default 1,000,000).
//
//	scripts/bench TicketList
func BenchmarkTicketList(b *testing.B) {
	ctx := context.Background()
	total := benchTickets()
	s := millionTickets(b, total)
	if err := s.ExecForTest(ctx, `VACUUM ANALYZE tickets`); err != nil {
		b.Fatal(err)
	}
	filters := []struct {
		name string
		f    core.TicketFilter
	}{
		{"all", core.TicketFilter{}},
		{"assignee", core.TicketFilter{Assignee: "agent7@desk.test"}},
		{"assignee_open", core.TicketFilter{Assignee: "Agent 7", Status: core.StatusOpen}},
		{"team", core.TicketFilter{Team: "Team 2"}},
		{"team_open", core.TicketFilter{Team: "Team 2", Status: core.StatusOpen}},
		{"status_open", core.TicketFilter{Status: core.StatusOpen}},
		{"status_closed", core.TicketFilter{Status: core.StatusClosed}},
		{"overdue", core.TicketFilter{Overdue: true}},
		{"overdue_team", core.TicketFilter{Overdue: true, Team: "Team 2"}},
		{"customer", core.TicketFilter{Customer: "c4242@example.com"}},
		{"customer_closed", core.TicketFilter{Customer: "c4242@example.com", Status: core.StatusClosed}},
		{"since_week", core.TicketFilter{Since: time.Now().Add(-7 * 24 * time.Hour)}},
		{"assignee_page_2", core.TicketFilter{Assignee: "agent7@desk.test", After: int64(total / 2)}},
	}
	for _, c := range filters {
		c.f.Limit = 100
		plan, err := s.ListTicketsPlan(ctx, c.f)
		if err != nil {
			b.Fatal(err)
		}
		if strings.Contains(plan, "Seq Scan on tickets") {
			b.Errorf("%s: the plan scans every ticket:\n%s", c.name, plan)
		}
		b.Run(c.name, func(b *testing.B) {
			var times []time.Duration
			for i := 0; i < max(b.N, 5); i++ {
				t := time.Now()
				if _, err := s.ListTickets(ctx, c.f); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(t))
			}
			sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "ms_median")
			b.ReportMetric(float64(times[len(times)-1].Microseconds())/1000, "ms_max")
		})
	}
}

// benchTickets is HELPDESK_BENCH_TICKETS, default a million.
func benchTickets() int {
	if v, err := strconv.Atoi(os.Getenv("HELPDESK_BENCH_TICKETS")); err == nil && v > 0 {
		return v
	}
	return 1_000_000
}

// millionTickets is a store holding total tickets over three years, with
// realistic assignment (20 agents, 4 teams, 100,000 customers, the three
// SLA plans) and most of them closed, one every 95 seconds up to now.
func millionTickets(b *testing.B, total int) *core.Store {
	ctx := context.Background()
	s := coretest.SeededStore(b)
	start := time.Now()
	for _, sql := range []string{
		`INSERT INTO teams (name) SELECT 'Team ' || g FROM generate_series(1, 3) g`,
		`INSERT INTO agents (email, name, role, active) SELECT 'agent' || g || '@desk.test', 'Agent ' || g, 'agent', true
			FROM generate_series(1, 18) g`,
		`INSERT INTO customers (email, name, created_at) SELECT 'c' || g || '@example.com', 'C ' || g, now()
			FROM generate_series(1, 100000) g`,
		`INSERT INTO tickets (subject, status, priority, customer_id, team_id, assignee_id, root_message_id, created_at, updated_at, overdue, sla_plan_id)
		SELECT 'ticket ' || g, st, 'normal', c.min + (g::bigint * 7919) % 100000, tm.ids[1 + g % 4],
			CASE WHEN g % 10 = 0 THEN NULL ELSE ag.ids[1 + (g::bigint * 31) % array_length(ag.ids, 1)] END,
			'list-' || g || '@example.com', at, at, st = 'open' AND g % 50 = 0, pl.ids[1 + g % 3]
		FROM generate_series(1, $1::int) g,
			LATERAL (SELECT now() - (($1::int - g) * interval '95 seconds') AS at) t,
			LATERAL (SELECT CASE WHEN g > $1::int - 50000 THEN (ARRAY['open', 'open', 'pending', 'resolved'])[1 + g % 4]
				ELSE 'closed' END AS st) s,
			(SELECT min(id) FROM customers WHERE email LIKE 'c%@example.com') c,
			(SELECT array_agg(id ORDER BY id) AS ids FROM teams) tm,
			(SELECT array_agg(id ORDER BY id) AS ids FROM agents) ag,
			(SELECT array_agg(id ORDER BY id) AS ids FROM sla_plans) pl`,
	} {
		if err := s.ExecForTest(ctx, sql, append([]any{}, argsFor(sql, total)...)...); err != nil {
			b.Fatalf("%v\n%s", err, sql)
		}
	}
	b.Logf("loaded %d tickets in %v", total, time.Since(start).Round(time.Second))
	return s
}

// argsFor passes the ticket count to the statements that take it.
func argsFor(sql string, total int) []any {
	if strings.Contains(sql, "$1") {
		return []any{total}
	}
	return nil
}
