package core

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"helpdesk/core/businesshours"
)

// SLAPolicy is the part of an SLA plan beyond its two targets.
type SLAPolicy struct {
	// Timezone and Hours ("mon-fri 09:00-17:00" lines) make the clock run in
	// business hours only; no Hours means 24×7.
	Timezone string   `json:"timezone,omitempty"`
	Hours    []string `json:"hours,omitempty"`
	Holidays []string `json:"holidays,omitempty"` // "2006-01-02"
	// Pause lists the statuses that stop the clock (default: pending).
	Pause []Status `json:"pause,omitempty"`
	// HoldAlerts delays escalation mail until the schedule is open.
	HoldAlerts bool `json:"hold_alerts,omitempty"`
	// Ladder is the escalation ladder (default: DefaultLadder).
	Ladder []EscalationStep `json:"ladder,omitempty"`
}

// Targets a ladder step can watch.
const (
	TargetFirstResponse = "first_response"
	TargetResolution    = "resolution"
)

// Escalation actions.
const (
	ActionWarn     = "warn"     // mail the assignee (or the admins) before a breach
	ActionBreach   = "breach"   // mark overdue, mail the admins and the assignee
	ActionEscalate = "escalate" // raise priority and/or reassign, mail the admins
)

// EscalationStep fires when the clock reaches Fraction of a target plus After.
type EscalationStep struct {
	Target   string        `json:"target"`
	Fraction float64       `json:"fraction"`
	After    time.Duration `json:"after,omitempty"`
	Action   string        `json:"action"`
	Priority Priority      `json:"priority,omitempty"`
	Team     string        `json:"team,omitempty"`
	Agent    string        `json:"agent,omitempty"` // email
}

// DefaultLadder warns at 75 % of the resolution target and marks a breach
// of either target.
var DefaultLadder = []EscalationStep{
	{Target: TargetResolution, Fraction: 0.75, Action: ActionWarn},
	{Target: TargetFirstResponse, Fraction: 1, Action: ActionBreach},
	{Target: TargetResolution, Fraction: 1, Action: ActionBreach},
}

// Validate checks a policy and returns its schedule.
func (p SLAPolicy) Schedule() (*businesshours.Schedule, error) {
	s := &businesshours.Schedule{Location: time.UTC}
	if p.Timezone != "" {
		loc, err := time.LoadLocation(p.Timezone)
		if err != nil {
			return nil, fmt.Errorf("timezone %q: %w", p.Timezone, err)
		}
		s.Location = loc
	}
	w, err := businesshours.ParseWeekly(p.Hours)
	if err != nil {
		return nil, fmt.Errorf("hours: %w", err)
	}
	s.Weekly = w
	if len(p.Holidays) > 0 {
		s.Holidays = map[string]bool{}
		for _, h := range p.Holidays {
			if _, err := time.Parse("2006-01-02", h); err != nil {
				return nil, fmt.Errorf("holiday %q: want YYYY-MM-DD", h)
			}
			s.Holidays[h] = true
		}
	}
	for i, st := range p.Ladder {
		if st.Target != TargetFirstResponse && st.Target != TargetResolution {
			return nil, fmt.Errorf("ladder step %d: target must be %q or %q", i+1, TargetFirstResponse, TargetResolution)
		}
		if st.Action != ActionWarn && st.Action != ActionBreach && st.Action != ActionEscalate {
			return nil, fmt.Errorf("ladder step %d: action must be warn, breach or escalate", i+1)
		}
		if st.Fraction < 0 || st.After < 0 {
			return nil, fmt.Errorf("ladder step %d: must not fire before the clock starts", i+1)
		}
	}
	return s, nil
}

// plan is an SLA plan loaded for the clock.
type plan struct {
	id                        int64
	name                      string
	firstResponse, resolution time.Duration
	policy                    SLAPolicy
	sched                     *businesshours.Schedule
}

func (p *plan) target(name string) time.Duration {
	if name == TargetFirstResponse {
		return p.firstResponse
	}
	return p.resolution
}

func (p *plan) ladder() []EscalationStep {
	if len(p.policy.Ladder) > 0 {
		return p.policy.Ladder
	}
	return DefaultLadder
}

// offset is how much business time must pass before step i fires.
func (p *plan) offset(i int) time.Duration {
	st := p.ladder()[i]
	return time.Duration(st.Fraction*float64(p.target(st.Target))) + st.After
}

func (p *plan) pauses(st Status) bool {
	if len(p.policy.Pause) == 0 {
		return st == StatusPending
	}
	for _, s := range p.policy.Pause {
		if s == st {
			return true
		}
	}
	return false
}

// loadPlans loads the SLA plans, or only those with the given ids.
func loadPlans(ctx context.Context, q querier, ids ...int64) (map[int64]*plan, error) {
	rows, err := q.Query(ctx, `SELECT id, name, first_response_seconds, resolution_seconds, policy FROM sla_plans
		WHERE coalesce(cardinality($1::bigint[]), 0) = 0 OR id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("load sla plans: %w", err)
	}
	defer rows.Close()
	plans := map[int64]*plan{}
	for rows.Next() {
		var p plan
		var fr, res int64
		var policy []byte
		if err := rows.Scan(&p.id, &p.name, &fr, &res, &policy); err != nil {
			return nil, fmt.Errorf("load sla plans: %w", err)
		}
		p.firstResponse, p.resolution = time.Duration(fr)*time.Second, time.Duration(res)*time.Second
		if err := json.Unmarshal(policy, &p.policy); err != nil {
			return nil, fmt.Errorf("sla plan %s policy: %w", p.name, err)
		}
		if p.sched, err = p.policy.Schedule(); err != nil {
			return nil, fmt.Errorf("sla plan %s: %w", p.name, err)
		}
		plans[p.id] = &p
	}
	return plans, rows.Err()
}

// clock is a ticket's SLA clock state.
type clock struct {
	base      time.Duration // business time consumed before since
	since     *time.Time    // running since, nil while stopped
	responded bool          // first response given: its target no longer counts
}

// when returns the instant the clock reaches offset, or nil if it is stopped.
// An offset already passed gives a time in the past.
func (c clock) when(p *plan, offset time.Duration) *time.Time {
	if c.since == nil {
		return nil
	}
	left := offset - c.base
	var t time.Time
	if left < 0 {
		t = c.since.Add(left)
	} else {
		var err error
		if t, err = p.sched.Add(*c.since, left); err != nil {
			return nil
		}
	}
	return &t
}

// next returns the earliest unfired step that still applies, and when it fires.
func (c clock) next(p *plan, fired map[int]bool) (int, *time.Time) {
	best, bestOff := -1, time.Duration(0)
	for i, st := range p.ladder() {
		if fired[i] || (c.responded && st.Target == TargetFirstResponse) {
			continue
		}
		if off := p.offset(i); best < 0 || off < bestOff {
			best, bestOff = i, off
		}
	}
	if best < 0 {
		return -1, nil
	}
	return best, c.when(p, bestOff)
}
