package core_test

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"helpdesk/core"
)

// BenchmarkReport computes the report of the last week (by plan, by agent,
// and the weekly mail's three reports) on a million tickets with their
// history: a first response 30 minutes in for nine in ten, a resolution
// four hours in for those not open, an SLA alert on one in twenty; it
// checks that no plan scans the entries or tickets tables.
//
//	scripts/bench Report
func BenchmarkReport(b *testing.B) {
	ctx := context.Background()
	total := benchTickets()
	s := millionTickets(b, total)
	start := time.Now()
	for _, sql := range []string{
		`INSERT INTO entries (ticket_id, kind, agent_id, body, created_at)
			SELECT id, 'response', assignee_id, 'On it.', created_at + interval '30 minutes' FROM tickets WHERE id % 10 <> 0`,
		`INSERT INTO entries (ticket_id, kind, event, data, created_at)
			SELECT id, 'event', 'resolved', '{"from": "open", "to": "resolved"}', created_at + interval '4 hours'
			FROM tickets WHERE status IN ('resolved', 'closed')`,
		`INSERT INTO entries (ticket_id, kind, event, data, created_at)
			SELECT id, 'event', 'overdue', '{"step": 2, "action": "breach", "target": "first_response", "late": "5m 0s"}',
				created_at + interval '1 hour' FROM tickets WHERE id % 20 = 0`,
		`VACUUM ANALYZE tickets`,
		`VACUUM ANALYZE entries`,
	} {
		if err := s.ExecForTest(ctx, sql); err != nil {
			b.Fatalf("%v\n%s", err, sql)
		}
	}
	b.Logf("loaded the history in %v", time.Since(start).Round(time.Second))
	end := time.Now()
	week := core.ReportOptions{From: end.Add(-core.ReportPeriod), To: end}
	plan, err := s.ReportPlan(ctx, week)
	if err != nil {
		b.Fatal(err)
	}
	if strings.Contains(plan, "Seq Scan on entries") || strings.Contains(plan, "Seq Scan on tickets") {
		b.Errorf("the report's plan scans a whole table:\n%s", plan)
	}
	runs := []struct {
		name string
		run  func() error
	}{
		{"week_by_plan", func() error { _, err := s.Report(ctx, withBy(week, core.ByPlan)); return err }},
		{"week_by_agent", func() error { _, err := s.Report(ctx, withBy(week, core.ByAgent)); return err }},
		{"weekly_mail", func() error { _, err := s.WeeklyReport(ctx, end); return err }},
	}
	for _, r := range runs {
		b.Run(r.name, func(b *testing.B) {
			var times []time.Duration
			for i := 0; i < max(b.N, 5); i++ {
				t := time.Now()
				if err := r.run(); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(t))
			}
			sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "ms_median")
			b.ReportMetric(float64(times[len(times)-1].Microseconds())/1000, "ms_max")
		})
	}
	r, _ := s.Report(ctx, week)
	if len(r.Groups) == 1 {
		b.Logf("the week: %d opened, %d first responses, %d resolved, %d SLA alerts", r.Groups[0].Opened,
			r.Groups[0].FirstResponse.Count, r.Groups[0].Resolved, len(r.Breaches))
	}
}

func withBy(o core.ReportOptions, by string) core.ReportOptions {
	o.By = by
	return o
}
