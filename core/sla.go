package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// resetSLA brings a ticket's SLA clock in line with its status and plan:
// it stops the clock in a pausing status (or once resolved or closed),
// restarts it when the ticket is worked on again, recomputes the due times
// from the business time already consumed, and schedules the next ladder
// step. Call it after every change to status, plan or first response.
func (s *Store) resetSLA(ctx context.Context, tx pgx.Tx, ticketID int64, now time.Time) error {
	var planID *int64
	var status Status
	var baseSecs int64
	var since, responded *time.Time
	var anyFired bool
	err := tx.QueryRow(ctx, `SELECT sla_plan_id, status, sla_clock_base, sla_clock_since, first_responded_at,
		EXISTS (SELECT 1 FROM sla_fired WHERE ticket_id = $1)
		FROM tickets WHERE id = $1`, ticketID).Scan(&planID, &status, &baseSecs, &since, &responded, &anyFired)
	if err != nil {
		return fmt.Errorf("load sla clock: %w", err)
	}
	if planID == nil {
		_, err := tx.Exec(ctx, `UPDATE tickets SET next_escalation_at = NULL WHERE id = $1`, ticketID)
		return err
	}
	plans, err := loadPlans(ctx, tx, *planID)
	if err != nil {
		return err
	}
	p := plans[*planID]
	c := clock{base: time.Duration(baseSecs) * time.Second, since: since, responded: responded != nil}
	running := status != StatusResolved && status != StatusClosed && !p.pauses(status)
	switch {
	case running && c.since == nil:
		c.since = &now
	case !running && c.since != nil:
		c.base += p.sched.Between(*c.since, now)
		c.since = nil
	}
	fired := map[int64]map[int]bool{}
	if anyFired { // a new ticket has none: spare the query
		if fired, err = firedSteps(ctx, tx, []int64{ticketID}, []int64{p.id}); err != nil {
			return err
		}
	}
	_, next := c.next(p, fired[ticketID])
	// While the clock is stopped the due times stay as they were; they move
	// when it runs again.
	_, err = tx.Exec(ctx, `UPDATE tickets SET sla_clock_base = $2, sla_clock_since = $3, next_escalation_at = $4,
		first_response_due = coalesce($5, first_response_due), resolution_due = coalesce($6, resolution_due)
		WHERE id = $1`, ticketID, int64(c.base/time.Second), c.since, next, c.when(p, p.firstResponse), c.when(p, p.resolution))
	if err != nil {
		return fmt.Errorf("save sla clock: %w", err)
	}
	return nil
}

// firedSteps returns, per ticket, the ladder steps of its plan already fired.
func firedSteps(ctx context.Context, q querier, tickets, plans []int64) (map[int64]map[int]bool, error) {
	rows, err := q.Query(ctx, `SELECT f.ticket_id, f.step FROM sla_fired f
		JOIN unnest($1::bigint[], $2::bigint[]) AS u(t, p) ON f.ticket_id = u.t AND f.sla_plan_id = u.p`, tickets, plans)
	if err != nil {
		return nil, fmt.Errorf("load fired steps: %w", err)
	}
	defer rows.Close()
	out := map[int64]map[int]bool{}
	for rows.Next() {
		var t int64
		var step int
		if err := rows.Scan(&t, &step); err != nil {
			return nil, fmt.Errorf("load fired steps: %w", err)
		}
		if out[t] == nil {
			out[t] = map[int]bool{}
		}
		out[t][step] = true
	}
	return out, rows.Err()
}

// SLAResult counts what a check did.
type SLAResult struct {
	Tickets int            // tickets with a step due
	Steps   map[string]int // steps fired, by action
}

// slaBatch is how many due tickets one transaction handles.
const slaBatch = 1000

// CheckSLA fires every ladder step that is due at now. Due tickets are found
// through the next_escalation_at index and claimed with SKIP LOCKED; each
// (ticket, plan, step) is recorded under a unique key in the transaction
// that applies it, so two checkers, or a crash and a rerun, fire it once.
//
// Two workers take batches side by side (SKIP LOCKED keeps them apart), so
// the database's work on one batch overlaps ours on the next.
func (s *Store) CheckSLA(ctx context.Context, now time.Time) (SLAResult, error) {
	const workers = 2
	results := make([]SLAResult, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := SLAResult{Steps: map[string]int{}}
			for ctx.Err() == nil {
				n, err := s.checkSLABatch(ctx, now, &res)
				res.Tickets += n
				if err != nil {
					errs[w] = err
					break
				}
				if n < slaBatch {
					break
				}
			}
			results[w] = res
		}()
	}
	wg.Wait()
	total := SLAResult{Steps: map[string]int{}}
	for _, r := range results {
		total.Tickets += r.Tickets
		for k, v := range r.Steps {
			total.Steps[k] += v
		}
	}
	return total, errors.Join(errs...)
}

// dueTicket is what the checker needs of a ticket.
type dueTicket struct {
	Ticket
	clock  clock
	planID int64
}

// claimDueTickets locks up to slaBatch tickets whose next escalation is due
// by now, skipping those another checker holds.
func claimDueTickets(ctx context.Context, tx pgx.Tx, now time.Time) ([]*dueTicket, error) {
	rows, err := tx.Query(ctx, `
		SELECT t.id, t.number, t.subject, t.status, t.priority, t.sla_plan_id, coalesce(t.assignee_id, 0), a.name, a.email,
			coalesce(t.team_id, 0), coalesce(tm.name, ''), t.sla_clock_base, t.sla_clock_since, t.first_responded_at IS NOT NULL,
			t.first_response_due, t.resolution_due, t.root_message_id, c.email, coalesce(h.name, '')
		FROM tickets t
		JOIN customers c ON c.id = t.customer_id
		LEFT JOIN agents a ON a.id = t.assignee_id
		LEFT JOIN teams tm ON tm.id = t.team_id
		LEFT JOIN help_topics h ON h.id = t.help_topic_id
		WHERE t.next_escalation_at <= $1 AND t.sla_plan_id IS NOT NULL
		ORDER BY t.next_escalation_at LIMIT $2
		FOR UPDATE OF t SKIP LOCKED`, now, slaBatch)
	if err != nil {
		return nil, fmt.Errorf("find due tickets: %w", err)
	}
	due, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*dueTicket, error) {
		var d dueTicket
		var aName, aEmail *string
		var base int64
		err := r.Scan(&d.ID, &d.Number, &d.Subject, &d.Status, &d.Priority, &d.planID, &d.assigneeID, &aName, &aEmail,
			&d.teamID, &d.Team, &base, &d.clock.since, &d.clock.responded, &d.FirstResponseDue, &d.ResolutionDue,
			&d.RootMessageID, &d.Customer.Email, &d.HelpTopic)
		if aEmail != nil {
			d.Assignee = &Address{Name: *aName, Email: *aEmail}
		}
		d.clock.base = time.Duration(base) * time.Second
		return &d, err
	})
	if err != nil {
		return nil, fmt.Errorf("find due tickets: %w", err)
	}
	return due, nil
}

func (s *Store) checkSLABatch(ctx context.Context, now time.Time, res *SLAResult) (int, error) {
	var claimed int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		due, err := claimDueTickets(ctx, tx, now)
		if err != nil {
			return err
		}
		claimed = len(due)
		if claimed == 0 {
			return nil
		}
		plans, err := loadPlans(ctx, tx)
		if err != nil {
			return err
		}
		ids, planIDs := make([]int64, len(due)), make([]int64, len(due))
		for i, d := range due {
			ids[i], planIDs[i] = d.ID, d.planID
		}
		fired, err := firedSteps(ctx, tx, ids, planIDs)
		if err != nil {
			return err
		}
		admins, err := agentsWhere(ctx, tx, `a.role = 'admin'`)
		if err != nil {
			return err
		}
		staffByEmail, teamsByName, err := escalationTargets(ctx, tx, plans)
		if err != nil {
			return err
		}
		excerpts, err := threadExcerpts(ctx, tx, ids)
		if err != nil {
			return err
		}
		b := &slaBatchWork{s: s, now: now, admins: admins, staff: staffByEmail, teams: teamsByName, excerpts: excerpts}
		for _, d := range due {
			p := plans[d.planID]
			if p == nil {
				continue
			}
			d.SLAPlan = p.name
			if fired[d.ID] == nil {
				fired[d.ID] = map[int]bool{}
			}
			for {
				step, at := d.clock.next(p, fired[d.ID])
				if step < 0 || at == nil || at.After(now) {
					b.next(d, at)
					break
				}
				fired[d.ID][step] = true
				if err := b.fire(d, p, step, *at); err != nil {
					return err
				}
			}
		}
		return b.apply(ctx, tx, res)
	})
	return claimed, err
}

// escalationTargets loads the agents and teams that ladders name.
func escalationTargets(ctx context.Context, tx pgx.Tx, plans map[int64]*plan) (map[string]recipient, map[string]int64, error) {
	var emails, teams []string
	for _, p := range plans {
		for _, st := range p.ladder() {
			if st.Agent != "" {
				emails = append(emails, strings.ToLower(st.Agent))
			}
			if st.Team != "" {
				teams = append(teams, strings.ToLower(st.Team))
			}
		}
	}
	staff := map[string]recipient{}
	if len(emails) > 0 {
		list, err := agentsWhere(ctx, tx, `a.email = ANY($1)`, emails)
		if err != nil {
			return nil, nil, err
		}
		for _, a := range list {
			staff[a.addr.Email] = a
		}
	}
	teamIDs := map[string]int64{}
	rows, err := tx.Query(ctx, `SELECT id, lower(name) FROM teams WHERE lower(name) = ANY($1)`, teams)
	if err != nil {
		return nil, nil, fmt.Errorf("load escalation teams: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, nil, fmt.Errorf("load escalation teams: %w", err)
		}
		teamIDs[name] = id
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("load escalation teams: %w", err)
	}
	return staff, teamIDs, nil
}

// slaBatchWork collects a batch's effects so they are written in a handful
// of statements, whatever the batch size.
type slaBatchWork struct {
	s      *Store
	now    time.Time
	admins []recipient
	staff  map[string]recipient
	teams  map[string]int64
	// excerpts holds each ticket's recent public thread for breach alerts.
	excerpts map[int64]string

	fired   []firedStep
	updates map[int64]*ticketUpdate
	order   []int64
}

type firedStep struct {
	ticket, plan int64
	step         int
	action       string
	entry        entry
	mails        []outboxRow
}

type ticketUpdate struct {
	next     *time.Time
	overdue  bool
	priority Priority
	assignee int64
	team     int64
}

func (b *slaBatchWork) update(d *dueTicket) *ticketUpdate {
	if b.updates == nil {
		b.updates = map[int64]*ticketUpdate{}
	}
	u := b.updates[d.ID]
	if u == nil {
		u = &ticketUpdate{}
		b.updates[d.ID] = u
		b.order = append(b.order, d.ID)
	}
	return u
}

func (b *slaBatchWork) next(d *dueTicket, at *time.Time) { b.update(d).next = at }

// fire records one step's effects: the event, the flags, the mails. Each
// action has its own mail, and each carries the thread so far.
func (b *slaBatchWork) fire(d *dueTicket, p *plan, step int, at time.Time) error {
	st := p.ladder()[step]
	u := b.update(d)
	due := d.ResolutionDue
	if st.Target == TargetFirstResponse {
		due = d.FirstResponseDue
	}
	mailData := MailData{Target: strings.ReplaceAll(st.Target, "_", " "), Thread: b.excerpts[d.ID], Step: step + 1,
		By: fmt.Sprintf("SLA plan %s, step %d of its ladder", p.name, step+1)}
	if due != nil {
		mailData.Due = due.UTC().Format("2006-01-02 15:04 MST")
		if late := b.now.Sub(*due); late >= 0 {
			mailData.Late = Lateness(late)
		} else {
			mailData.Left = Lateness(-late)
		}
	}
	data := map[string]any{"target": st.Target, "step": step + 1, "action": st.Action, "plan": p.name}
	var to []recipient
	template, event := TemplateSLAWarning, EventOverdue
	switch st.Action {
	case ActionWarn:
		event = "sla_warning"
		if d.Assignee != nil {
			to = []recipient{{id: d.assigneeID, addr: *d.Assignee}}
		} else {
			to = b.admins
		}
	case ActionBreach:
		u.overdue = true
		template, data["late"] = TemplateSLABreach, mailData.Late
		to = withAssignee(b.admins, d)
	case ActionEscalate:
		event, template = EventEscalated, TemplateSLAEscalated
		var previous *recipient
		if d.Assignee != nil {
			previous = &recipient{id: d.assigneeID, addr: *d.Assignee}
		}
		mailData.Changes = b.escalate(d, u, st, data)
		to = withAssignee(b.admins, d)
		if previous != nil && previous.id != d.assigneeID {
			// The agent it was taken from hears so, not only the admins.
			to = appendRecipient(to, *previous)
		}
	}
	f := firedStep{ticket: d.ID, plan: p.id, step: step, action: st.Action,
		entry: entry{kind: EntryEvent, event: event, data: data}}
	notBefore := b.now
	if p.policy.HoldAlerts {
		// Respect people: alerts wait for the plan's hours, but are queued now.
		if open, err := p.sched.NextOpen(b.now); err == nil {
			notBefore = open
		}
	}
	for _, r := range to {
		row, err := b.s.buildRow(outMail{ticket: &d.Ticket, template: template, to: r.addr, agentID: r.id,
			data: mailData, notBefore: notBefore}, b.now)
		if err != nil {
			return err
		}
		f.mails = append(f.mails, row)
	}
	b.fired = append(b.fired, f)
	return nil
}

// escalate applies an escalate step to the ticket (priority, team,
// assignee), records it in the event's data, and returns each change as a
// person reads it: what, from what, to what.
func (b *slaBatchWork) escalate(d *dueTicket, u *ticketUpdate, st EscalationStep, data map[string]any) []string {
	var changes []string
	if st.Priority != "" && st.Priority != d.Priority {
		data["priority"] = map[string]string{"from": string(d.Priority), "to": string(st.Priority)}
		changes = append(changes, fmt.Sprintf("priority: %s → %s", d.Priority, st.Priority))
		u.priority, d.Priority = st.Priority, st.Priority
	}
	if id, ok := b.teams[strings.ToLower(st.Team)]; ok && st.Team != "" && id != d.teamID {
		data["team"] = st.Team
		changes = append(changes, fmt.Sprintf("team: %s → %s", orNone(d.Team), st.Team))
		u.team, d.teamID, d.Team = id, id, st.Team
	}
	if a, ok := b.staff[strings.ToLower(st.Agent)]; ok && st.Agent != "" && a.id != d.assigneeID {
		data["assignee"] = map[string]string{"to": a.addr.Email}
		from := "nobody"
		if d.Assignee != nil {
			from = d.Assignee.Display()
		}
		changes = append(changes, fmt.Sprintf("assignee: taken from %s, given to %s", from, a.addr.Display()))
		u.assignee, d.assigneeID, d.Assignee = a.id, a.id, &a.addr
	}
	if len(changes) == 0 {
		changes = []string{"nothing to change: the ticket already had the step's priority, team and assignee"}
	}
	return changes
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func appendRecipient(list []recipient, r recipient) []recipient {
	for _, x := range list {
		if x.id == r.id {
			return list
		}
	}
	return append(list, r)
}

// Lateness states a duration to the second, as people write it: "30s",
// "1m 5s", "2h 0m 30s", "3d 4h 0m". An alert fired on time says "0s".
func Lateness(d time.Duration) string {
	d = d.Round(time.Second)
	days, d := d/(24*time.Hour), d%(24*time.Hour)
	hours, d := d/time.Hour, d%time.Hour
	minutes, seconds := d/time.Minute, (d%time.Minute)/time.Second
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh %dm", days, hours, minutes)
	case hours > 0:
		return fmt.Sprintf("%dh %dm %ds", hours, minutes, seconds)
	case minutes > 0:
		return fmt.Sprintf("%dm %ds", minutes, seconds)
	}
	return fmt.Sprintf("%ds", seconds)
}

func withAssignee(admins []recipient, d *dueTicket) []recipient {
	out := append([]recipient(nil), admins...)
	if d.Assignee == nil {
		return out
	}
	for _, a := range admins {
		if a.id == d.assigneeID {
			return out
		}
	}
	return append(out, recipient{id: d.assigneeID, addr: *d.Assignee})
}

// apply writes the batch: fired steps first, under their unique key; the
// effects of any step another checker already fired are dropped.
func (b *slaBatchWork) apply(ctx context.Context, tx pgx.Tx, res *SLAResult) error {
	if len(b.fired) > 0 {
		n := len(b.fired)
		tickets, plans, steps := make([]int64, n), make([]int64, n), make([]int32, n)
		for i, f := range b.fired {
			tickets[i], plans[i], steps[i] = f.ticket, f.plan, int32(f.step)
		}
		rows, err := tx.Query(ctx, `INSERT INTO sla_fired (ticket_id, sla_plan_id, step, fired_at)
			SELECT t, p, s, $4 FROM unnest($1::bigint[], $2::bigint[], $3::int[]) AS u(t, p, s)
			ON CONFLICT DO NOTHING RETURNING ticket_id, sla_plan_id, step`, tickets, plans, steps, b.now)
		if err != nil {
			return fmt.Errorf("record fired steps: %w", err)
		}
		type key struct {
			t, p int64
			s    int32
		}
		won := map[key]bool{}
		for rows.Next() {
			var k key
			if err := rows.Scan(&k.t, &k.p, &k.s); err != nil {
				rows.Close()
				return fmt.Errorf("record fired steps: %w", err)
			}
			won[k] = true
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("record fired steps: %w", err)
		}
		var evTickets []int64
		var evNames, evData []string
		var mails []outboxRow
		for _, f := range b.fired {
			if !won[key{f.ticket, f.plan, int32(f.step)}] {
				continue
			}
			res.Steps[f.action]++
			data, err := jsonText(f.entry.data)
			if err != nil {
				return err
			}
			evTickets, evNames, evData = append(evTickets, f.ticket), append(evNames, f.entry.event), append(evData, data)
			mails = append(mails, f.mails...)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO entries (ticket_id, kind, event, data, created_at)
			SELECT t, 'event', e, d::jsonb, $4 FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(t, e, d)`,
			evTickets, evNames, evData, b.now); err != nil {
			return fmt.Errorf("write escalation events: %w", err)
		}
		if err := insertRows(ctx, tx, mails, b.now); err != nil {
			return err
		}
	}
	n := len(b.order)
	ids, overdue, prio := make([]int64, n), make([]bool, n), make([]string, n)
	assignee, team, next := make([]int64, n), make([]int64, n), make([]*time.Time, n)
	for i, id := range b.order {
		u := b.updates[id]
		ids[i], overdue[i], prio[i], assignee[i], team[i], next[i] = id, u.overdue, string(u.priority), u.assignee, u.team, u.next
	}
	_, err := tx.Exec(ctx, `UPDATE tickets t SET
			overdue = t.overdue OR u.overdue,
			priority = coalesce(nullif(u.prio, ''), t.priority),
			assignee_id = coalesce(nullif(u.assignee, 0), t.assignee_id),
			team_id = coalesce(nullif(u.team, 0), t.team_id),
			next_escalation_at = u.next,
			updated_at = CASE WHEN u.overdue OR u.prio <> '' OR u.assignee <> 0 OR u.team <> 0 THEN $7 ELSE t.updated_at END
		FROM unnest($1::bigint[], $2::bool[], $3::text[], $4::bigint[], $5::bigint[], $6::timestamptz[])
			AS u(id, overdue, prio, assignee, team, next)
		WHERE t.id = u.id`, ids, overdue, prio, assignee, team, next, b.now)
	if err != nil {
		return fmt.Errorf("update escalated tickets: %w", err)
	}
	return nil
}

func jsonText(v map[string]any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// threadExcerpts returns, per ticket, its last few public entries as text,
// for breach alerts: the admin sees what the customer is waiting on.
func threadExcerpts(ctx context.Context, tx pgx.Tx, ids []int64) (map[int64]string, error) {
	rows, err := tx.Query(ctx, `
		SELECT ticket_id, created_at, who, left(body, 600) FROM (
			SELECT e.ticket_id, e.created_at, coalesce(a.name, c.email, '') AS who, e.body,
				row_number() OVER (PARTITION BY e.ticket_id ORDER BY e.id DESC) AS n
			FROM entries e
			LEFT JOIN agents a ON a.id = e.agent_id
			LEFT JOIN customers c ON c.id = e.customer_id
			WHERE e.ticket_id = ANY($1) AND e.kind IN ('message', 'response')) x
		WHERE n <= 5 ORDER BY ticket_id, created_at`, ids)
	if err != nil {
		return nil, fmt.Errorf("load thread excerpts: %w", err)
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var id int64
		var at time.Time
		var who, body string
		if err := rows.Scan(&id, &at, &who, &body); err != nil {
			return nil, fmt.Errorf("load thread excerpts: %w", err)
		}
		out[id] += fmt.Sprintf("%s  %s\n%s\n\n", at.UTC().Format("2006-01-02 15:04 MST"), who, body)
	}
	return out, rows.Err()
}
