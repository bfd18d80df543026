package core

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ReportPeriod is the weekly report's period.
const ReportPeriod = 7 * 24 * time.Hour

// ReportMail is the weekly report as the admins' mail and the dashboard
// show it: the week by plan (with its totals), and the week before for
// trends.
type ReportMail struct {
	Week         *Report     `json:"week"`
	Previous     ReportGroup `json:"previous"`
	DashboardURL string      `json:"dashboard_url,omitempty"`
}

// WeeklyReport gathers the report of the week ending at end.
func (s *Store) WeeklyReport(ctx context.Context, end time.Time) (*ReportMail, error) {
	var m *ReportMail
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		m, err = s.weeklyReport(ctx, tx, end)
		return err
	})
	return m, err
}

// weeklyReport is WeeklyReport inside the caller's transaction.
func (s *Store) weeklyReport(ctx context.Context, tx pgx.Tx, end time.Time) (*ReportMail, error) {
	start := end.Add(-ReportPeriod)
	week, err := report(ctx, tx, ReportOptions{From: start, To: end, By: ByPlan})
	if err != nil {
		return nil, fmt.Errorf("report of the week to %s: %w", end.Format(time.DateOnly), err)
	}
	before, err := reportTotal(ctx, tx, ReportOptions{From: start.Add(-ReportPeriod), To: start})
	if err != nil {
		return nil, err
	}
	m := &ReportMail{Week: week, Previous: before}
	s.linkReport(m, end)
	return m, nil
}

// linkReport adds the dashboard link and each listed ticket's status page,
// where the desk serves them.
func (s *Store) linkReport(m *ReportMail, end time.Time) {
	if s.statusBase == "" {
		return
	}
	m.DashboardURL = s.statusBase + "/report/" + s.ReportToken(end, end.Add(ReportLinkLifetime))
	for i, b := range m.Week.Breaches {
		m.Week.Breaches[i].URL = s.statusBase + "/status/" + s.StatusToken(b.Number, end.Add(StatusLinkLifetime))
	}
	for i, t := range m.Week.Oldest {
		m.Week.Oldest[i].URL = s.statusBase + "/status/" + s.StatusToken(t.Number, end.Add(StatusLinkLifetime))
	}
}

// SendWeeklyReport mails the week ending at now to the admins, once for
// that day however many daemons run. It reports whether this call sent it.
// The report is computed only by the daemon that claims the day.
func (s *Store) SendWeeklyReport(ctx context.Context, now time.Time) (bool, error) {
	sent := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		claimed, err := claimDailyJob(ctx, tx, "weekly_report", now)
		if err != nil || !claimed {
			return err // !claimed: another daemon sent it
		}
		m, err := s.weeklyReport(ctx, tx, now)
		if err != nil {
			return err
		}
		sent = true
		return s.alertAdmins(ctx, tx, now, TemplateReport, MailData{Report: m})
	})
	return sent, err
}

// Trend is one headline figure in this period and the one before.
type Trend struct {
	Name, Now, Before, Change string
}

// Trends are the headline figures against the week before.
func (m *ReportMail) Trends() []Trend {
	now, before := m.Week.Total, m.Previous
	count := func(name string, a, b int) Trend {
		return Trend{Name: name, Now: fmt.Sprint(a), Before: fmt.Sprint(b), Change: fmt.Sprintf("%+d", a-b)}
	}
	dur := func(name string, a, b Timing, pick func(Timing) time.Duration) Trend {
		t := Trend{Name: name, Now: a.text(pick), Before: b.text(pick), Change: "-"}
		if a.Count > 0 && b.Count > 0 {
			d := pick(a) - pick(b)
			t.Change = "+" + Lateness(d)
			if d < 0 {
				t.Change = "-" + Lateness(-d)
			}
		}
		return t
	}
	pct := func(name string, a, b Timing) Trend {
		t := Trend{Name: name, Now: a.WithinText(), Before: b.WithinText(), Change: "-"}
		if a.Targeted > 0 && b.Targeted > 0 {
			t.Change = fmt.Sprintf("%+.1f points", a.WithinTarget-b.WithinTarget)
		}
		return t
	}
	median := func(t Timing) time.Duration { return t.Median }
	return []Trend{
		count("Tickets opened", now.Opened, before.Opened),
		count("Tickets resolved", now.Resolved, before.Resolved),
		dur("First response, median", now.FirstResponse, before.FirstResponse, median),
		pct("First responses within target", now.FirstResponse, before.FirstResponse),
		dur("Resolution, median", now.Resolution, before.Resolution, median),
		pct("Resolutions within target", now.Resolution, before.Resolution),
		count("Reopened", now.Reopened, before.Reopened),
		count("SLA alerts", now.BreachTotal(), before.BreachTotal()),
	}
}

func (t Timing) text(pick func(Timing) time.Duration) string {
	if t.Count == 0 {
		return "-"
	}
	return Lateness(pick(t))
}

// MedianText, P90Text and WithinText are the timing as people read it.
func (t Timing) MedianText() string { return t.text(func(t Timing) time.Duration { return t.Median }) }
func (t Timing) P90Text() string    { return t.text(func(t Timing) time.Duration { return t.P90 }) }
func (t Timing) WithinText() string {
	if t.Targeted == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", t.WithinTarget)
}

// BacklogRow is one age bucket's open and pending tickets.
type BacklogRow struct {
	Age           string
	Open, Pending int
}

// BacklogRows is the backlog as a table, youngest first.
func (r *Report) BacklogRows() []BacklogRow {
	rows := make([]BacklogRow, len(BacklogAges))
	for i, age := range BacklogAges {
		rows[i].Age = age
		for _, b := range r.Backlog {
			if b.Age != age {
				continue
			}
			if b.Status == StatusPending {
				rows[i].Pending += b.Count
			} else {
				rows[i].Open += b.Count
			}
		}
	}
	return rows
}

// BreachTotal is how many ladder alerts a group had.
func (g ReportGroup) BreachTotal() int {
	n := 0
	for _, c := range g.Breaches {
		n += c
	}
	return n
}
