package core

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
)

// Report groupings.
const (
	ByPlan  = "plan"
	ByTopic = "topic"
	ByTeam  = "team"
	ByAgent = "agent"
)

// ReportOptions choose a report's period [From, To) and grouping ("" for
// one group of all tickets).
type ReportOptions struct {
	From, To time.Time
	By       string
}

// Report is how support did in a period, computed from the thread's events
// (never from counters that could drift): what was opened, answered and
// resolved and how fast on each plan's business clock, what breached, what
// came back. The backlog, the oldest tickets and each agent's open load are
// the tickets open now (as the report runs), aged at To.
type Report struct {
	From     time.Time      `json:"from"`
	To       time.Time      `json:"to"`
	By       string         `json:"by,omitempty"`
	Groups   []ReportGroup  `json:"groups"`
	Total    ReportGroup    `json:"total"` // all tickets together
	Backlog  []BacklogCount `json:"backlog"`
	Load     []AgentLoad    `json:"load"`
	Breaches []ReportBreach `json:"breaches"`
	Oldest   []OpenTicket   `json:"oldest"`
}

// ReportGroup is one plan's, topic's, team's or agent's figures (Key "" is
// the tickets without one).
type ReportGroup struct {
	Key    string `json:"key"`
	Opened int    `json:"opened"`
	// FirstResponse counts tickets first answered in the period,
	// Resolution tickets resolved in it (the last time, if several).
	FirstResponse Timing `json:"first_response"`
	Resolution    Timing `json:"resolution"`
	Resolved      int    `json:"resolved"`
	Reopened      int    `json:"reopened"`
	// ReopenRate is Reopened / Resolved (0 when nothing was resolved).
	ReopenRate float64 `json:"reopen_rate"`
	// Breaches counts the ladder's alerts fired in the period by step,
	// e.g. "3: breach resolution".
	Breaches map[string]int `json:"breaches,omitempty"`
}

// Timing summarises durations on the plan's business clock (pauses and
// time resolved excluded).
type Timing struct {
	Count  int           `json:"count"`
	Median time.Duration `json:"median_ns"`
	P90    time.Duration `json:"p90_ns"`
	// WithinTarget is the share (0–100) of those with a plan that met the
	// plan's target; Targeted is how many had one.
	WithinTarget float64 `json:"within_target_pct"`
	Targeted     int     `json:"targeted"`
}

// BacklogCount is how many tickets of a status wait in an age bucket.
type BacklogCount struct {
	Status Status `json:"status"`
	Age    string `json:"age"`
	Count  int    `json:"count"`
}

// Backlog age buckets, youngest first.
var BacklogAges = []string{"<1d", "1-3d", "3-7d", "7-30d", "30d+"}

// AgentLoad is an agent's open assigned tickets (as of To) and the
// responses they sent in the period.
type AgentLoad struct {
	Agent   Address `json:"agent"`
	Open    int     `json:"open"`
	Replied int     `json:"replied"`
}

// ReportBreach is one ladder alert fired in the period.
type ReportBreach struct {
	Number  int64     `json:"number"`
	Subject string    `json:"subject"`
	At      time.Time `json:"at"`
	Step    string    `json:"step"`
	Late    string    `json:"late,omitempty"`
	URL     string    `json:"url,omitempty"` // its status page, where served
}

// OpenTicket is an open ticket among the oldest.
type OpenTicket struct {
	Number   int64     `json:"number"`
	Subject  string    `json:"subject"`
	Status   Status    `json:"status"`
	Created  time.Time `json:"created"`
	Assignee string    `json:"assignee,omitempty"`
	URL      string    `json:"url,omitempty"` // its status page, where served
}

// reportEvents are the entries the figures are made of.
const reportEvents = `(e.kind = 'response' OR e.event IN ('resolved', 'reopened', 'overdue', 'escalated', 'sla_warning'))`

// Report computes the figures of a period.
func (s *Store) Report(ctx context.Context, o ReportOptions) (*Report, error) {
	var r *Report
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		r, err = report(ctx, tx, o)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("report %s to %s: %w", o.From.Format(time.DateOnly), o.To.Format(time.DateOnly), err)
	}
	return r, nil
}

// report is Report inside the caller's transaction.
func report(ctx context.Context, tx pgx.Tx, o ReportOptions) (*Report, error) {
	r := &Report{From: o.From, To: o.To, By: o.By}
	tickets, plans, err := reportHistory(ctx, tx, o)
	if err != nil {
		return nil, err
	}
	r.Groups, r.Breaches = periodFigures(tickets, plans, o)
	r.Total = totalFigures(tickets, plans, o)
	if r.Backlog, err = backlog(ctx, tx, o.To); err != nil {
		return nil, err
	}
	if r.Load, err = agentLoad(ctx, tx, o); err != nil {
		return nil, err
	}
	if r.Oldest, err = oldestOpen(ctx, tx, 5); err != nil {
		return nil, err
	}
	return r, nil
}

// reportTotal is a period's figures for all tickets together, without the
// backlog and load (which are today's whatever the period): the week
// before, for trends.
func reportTotal(ctx context.Context, tx pgx.Tx, o ReportOptions) (ReportGroup, error) {
	tickets, plans, err := reportHistory(ctx, tx, o)
	if err != nil {
		return ReportGroup{}, fmt.Errorf("report total %s to %s: %w", o.From.Format(time.DateOnly), o.To.Format(time.DateOnly), err)
	}
	return totalFigures(tickets, plans, o), nil
}

// reportHistory loads the period's tickets with their history, and the
// plans whose clocks they run on.
func reportHistory(ctx context.Context, tx pgx.Tx, o ReportOptions) ([]*reportTicket, map[int64]*plan, error) {
	tickets, err := reportTickets(ctx, tx, o)
	if err != nil {
		return nil, nil, err
	}
	plans, err := loadPlans(ctx, tx)
	return tickets, plans, err
}

// totalFigures is the one group of all the tickets.
func totalFigures(tickets []*reportTicket, plans map[int64]*plan, o ReportOptions) ReportGroup {
	o.By = ""
	groups, _ := periodFigures(tickets, plans, o)
	if len(groups) == 0 {
		return ReportGroup{}
	}
	return groups[0]
}

// reportTicket is a ticket the period touched, with its events in order.
type reportTicket struct {
	id, number     int64
	subject        string
	created        time.Time
	planID         *int64
	plan, topic    string
	team, assignee string
	events         []reportEvent
}

type reportEvent struct {
	kind, event string
	to          Status // status events: the new status
	step, late  string // ladder events
	at          time.Time
}

// reportTicketsQuery selects the tickets opened in the period [$1, $2) or
// with an event the figures count in it, and what they are grouped by.
const reportTicketsQuery = `
		SELECT t.id, t.number, t.subject, t.created_at, t.sla_plan_id, coalesce(p.name, ''), coalesce(h.name, ''),
			coalesce(tm.name, ''), coalesce(a.email, '')
		FROM tickets t
		LEFT JOIN sla_plans p ON p.id = t.sla_plan_id LEFT JOIN help_topics h ON h.id = t.help_topic_id
		LEFT JOIN teams tm ON tm.id = t.team_id LEFT JOIN agents a ON a.id = t.assignee_id
		-- An array, so the few touched tickets are fetched by key, not
		-- joined against all of them.
		WHERE t.id = ANY (ARRAY(
			SELECT id FROM tickets WHERE created_at >= $1 AND created_at < $2
			UNION SELECT e.ticket_id FROM entries e WHERE e.created_at >= $1 AND e.created_at < $2 AND ` + reportEvents + `))
		ORDER BY t.id`

// reportTickets loads the tickets opened in the period or with an event
// the figures count in it, and their status and response history.
func reportTickets(ctx context.Context, tx pgx.Tx, o ReportOptions) ([]*reportTicket, error) {
	rows, err := tx.Query(ctx, reportTicketsQuery, o.From, o.To)
	if err != nil {
		return nil, fmt.Errorf("load the period's tickets: %w", err)
	}
	byID := map[int64]*reportTicket{}
	var list []*reportTicket
	var ids []int64
	for rows.Next() {
		t := &reportTicket{}
		if err := rows.Scan(&t.id, &t.number, &t.subject, &t.created, &t.planID, &t.plan, &t.topic, &t.team, &t.assignee); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load the period's tickets: %w", err)
		}
		byID[t.id] = t
		list = append(list, t)
		ids = append(ids, t.id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load the period's tickets: %w", err)
	}
	rows, err = tx.Query(ctx, `
		SELECT e.ticket_id, e.kind, e.event, coalesce(e.data->>'to', ''), coalesce(e.data->>'step', ''),
			coalesce(e.data->>'action', ''), coalesce(e.data->>'target', ''), coalesce(e.data->>'late', ''), e.created_at
		FROM entries e WHERE e.ticket_id = ANY($1) AND e.created_at < $2
			AND (e.kind = 'response' OR e.event IN ('status', 'resolved', 'closed', 'reopened', 'overdue', 'escalated', 'sla_warning'))
		ORDER BY e.ticket_id, e.id`, ids, o.To)
	if err != nil {
		return nil, fmt.Errorf("load the period's events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var e reportEvent
		var to, step, action, target string
		if err := rows.Scan(&id, &e.kind, &e.event, &to, &step, &action, &target, &e.late, &e.at); err != nil {
			return nil, fmt.Errorf("load the period's events: %w", err)
		}
		e.to = Status(to)
		if step != "" {
			e.step = fmt.Sprintf("%s: %s %s", step, action, target)
		}
		byID[id].events = append(byID[id].events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load the period's events: %w", err)
	}
	return list, nil
}

// ticketFigures are one ticket's contributions to its group.
type ticketFigures struct {
	opened, resolved, reopened bool
	firstResponse, resolution  *time.Duration
	frTarget, resTarget        time.Duration // 0: no plan
	breaches                   []reportEvent
}

// periodFigures folds each ticket's history into its group's figures.
func periodFigures(tickets []*reportTicket, plans map[int64]*plan, o ReportOptions) ([]ReportGroup, []ReportBreach) {
	groups := map[string]*groupAcc{}
	var breaches []ReportBreach
	for _, t := range tickets {
		var p *plan
		if t.planID != nil {
			p = plans[*t.planID]
		}
		f := t.figures(p, o.From, o.To)
		key := t.groupKey(o.By)
		g := groups[key]
		if g == nil {
			g = &groupAcc{ReportGroup: ReportGroup{Key: key, Breaches: map[string]int{}}}
			groups[key] = g
		}
		g.add(f)
		for _, b := range f.breaches {
			breaches = append(breaches, ReportBreach{Number: t.number, Subject: t.subject, At: b.at, Step: b.step, Late: b.late})
		}
	}
	out := make([]ReportGroup, 0, len(groups))
	for _, g := range groups {
		out = append(out, g.finish())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	sort.Slice(breaches, func(i, j int) bool { return breaches[i].At.Before(breaches[j].At) })
	return out, breaches
}

func (t *reportTicket) groupKey(by string) string {
	switch by {
	case ByPlan:
		return t.plan
	case ByTopic:
		return t.topic
	case ByTeam:
		return t.team
	case ByAgent:
		return t.assignee
	}
	return ""
}

// figures replays the ticket's history on its plan's clock: running while
// neither paused nor resolved or closed, in the plan's business hours.
func (t *reportTicket) figures(p *plan, from, to time.Time) ticketFigures {
	in := func(at time.Time) bool { return !at.Before(from) && at.Before(to) }
	f := ticketFigures{opened: in(t.created)}
	if p != nil {
		f.frTarget, f.resTarget = p.firstResponse, p.resolution
	}
	var clock time.Duration
	running, since := true, t.created
	between := func(a, b time.Time) time.Duration {
		if p == nil || p.sched == nil {
			return b.Sub(a)
		}
		return p.sched.Between(a, b)
	}
	elapsed := func(at time.Time) time.Duration {
		if running {
			return clock + between(since, at)
		}
		return clock
	}
	answered := false
	for _, e := range t.events {
		switch {
		case e.kind == string(EntryResponse):
			if !answered {
				answered = true
				if in(e.at) {
					d := elapsed(e.at)
					f.firstResponse = &d
				}
			}
		case e.event == EventOverdue || e.event == EventEscalated || e.event == "sla_warning":
			if in(e.at) {
				f.breaches = append(f.breaches, e)
			}
		case e.to != "":
			if e.event == EventResolved && in(e.at) {
				d := elapsed(e.at)
				f.resolution, f.resolved = &d, true
			}
			if e.event == EventReopened && in(e.at) {
				f.reopened = true
			}
			nowRunning := e.to != StatusResolved && e.to != StatusClosed && (p == nil || !p.pauses(e.to))
			if running && !nowRunning {
				clock += between(since, e.at)
			}
			if !running && nowRunning {
				since = e.at
			}
			running = nowRunning
		}
	}
	return f
}

// groupAcc gathers a group's figures before the percentiles.
type groupAcc struct {
	ReportGroup
	fr, res timings
}

type timings struct {
	all              []time.Duration
	targeted, within int
}

func (ts *timings) add(d *time.Duration, target time.Duration) {
	if d == nil {
		return
	}
	ts.all = append(ts.all, *d)
	if target > 0 {
		ts.targeted++
		if *d <= target {
			ts.within++
		}
	}
}

func (ts timings) summary() Timing {
	out := Timing{Count: len(ts.all), Targeted: ts.targeted}
	if len(ts.all) == 0 {
		return out
	}
	sort.Slice(ts.all, func(i, j int) bool { return ts.all[i] < ts.all[j] })
	out.Median, out.P90 = percentile(ts.all, 0.5), percentile(ts.all, 0.9)
	if ts.targeted > 0 {
		out.WithinTarget = math.Round(1000*float64(ts.within)/float64(ts.targeted)) / 10
	}
	return out
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

func (g *groupAcc) add(f ticketFigures) {
	if f.opened {
		g.Opened++
	}
	if f.resolved {
		g.Resolved++
	}
	if f.reopened {
		g.Reopened++
	}
	g.fr.add(f.firstResponse, f.frTarget)
	g.res.add(f.resolution, f.resTarget)
	for _, b := range f.breaches {
		g.Breaches[b.step]++
	}
}

func (g *groupAcc) finish() ReportGroup {
	out := g.ReportGroup
	out.FirstResponse, out.Resolution = g.fr.summary(), g.res.summary()
	if out.Resolved > 0 {
		out.ReopenRate = math.Round(1000*float64(out.Reopened)/float64(out.Resolved)) / 1000
	}
	if len(out.Breaches) == 0 {
		out.Breaches = nil
	}
	return out
}

// backlog counts the open and pending tickets by age as of at.
func backlog(ctx context.Context, tx pgx.Tx, at time.Time) ([]BacklogCount, error) {
	rows, err := tx.Query(ctx, `
		SELECT status, CASE
			WHEN created_at > $1::timestamptz - interval '1 day' THEN 0 WHEN created_at > $1::timestamptz - interval '3 days' THEN 1
			WHEN created_at > $1::timestamptz - interval '7 days' THEN 2 WHEN created_at > $1::timestamptz - interval '30 days' THEN 3 ELSE 4 END AS age,
			count(*)
		FROM tickets WHERE status IN ('open', 'pending') AND created_at <= $1
		GROUP BY 1, 2 ORDER BY 1, 2`, at)
	if err != nil {
		return nil, fmt.Errorf("count the backlog: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (BacklogCount, error) {
		var b BacklogCount
		var age int
		err := r.Scan(&b.Status, &age, &b.Count)
		b.Age = BacklogAges[age]
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("count the backlog: %w", err)
	}
	return out, nil
}

// agentLoad is each active agent's open assigned tickets and responses in
// the period.
func agentLoad(ctx context.Context, tx pgx.Tx, o ReportOptions) ([]AgentLoad, error) {
	rows, err := tx.Query(ctx, `
		SELECT a.name, a.email,
			(SELECT count(*) FROM tickets t WHERE t.assignee_id = a.id AND t.status IN ('open', 'pending')),
			(SELECT count(*) FROM entries e WHERE e.agent_id = a.id AND e.kind = 'response' AND e.created_at >= $1 AND e.created_at < $2)
		FROM agents a WHERE a.active ORDER BY a.email`, o.From, o.To)
	if err != nil {
		return nil, fmt.Errorf("load agents' load: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AgentLoad, error) {
		var l AgentLoad
		err := r.Scan(&l.Agent.Name, &l.Agent.Email, &l.Open, &l.Replied)
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("load agents' load: %w", err)
	}
	return out, nil
}

// oldestOpen lists the n oldest open or pending tickets.
func oldestOpen(ctx context.Context, tx pgx.Tx, n int) ([]OpenTicket, error) {
	rows, err := tx.Query(ctx, `
		SELECT t.number, t.subject, t.status, t.created_at, coalesce(a.email, ''), ''
		FROM tickets t LEFT JOIN agents a ON a.id = t.assignee_id
		WHERE t.status IN ('open', 'pending') ORDER BY t.created_at LIMIT $1`, n)
	if err != nil {
		return nil, fmt.Errorf("list the oldest open tickets: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[OpenTicket])
	if err != nil {
		return nil, fmt.Errorf("list the oldest open tickets: %w", err)
	}
	return out, nil
}
