package core

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Directory is the organisation as the config declares it: who works here,
// in which teams, and how requests are routed and timed.
type Directory struct {
	Departments []Department
	Teams       []Team
	Agents      []Agent
	SLAPlans    []SLAPlan
	HelpTopics  []HelpTopic
}

// Department groups teams.
type Department struct{ Name string }

// Team is a group of agents that tickets can be routed to.
type Team struct {
	Name       string
	Department string
	// AutoAssign hands new tickets to the team's members in turn,
	// skipping those marked away.
	AutoAssign bool
}

// Role decides what an agent may do.
type Role string

// The roles: admins act on every ticket, agents on their own and their teams'.
const (
	RoleAdmin Role = "admin"
	RoleAgent Role = "agent"
)

// Agent is a member of staff.
type Agent struct {
	ID    int64    `json:"-"`
	Email string   `json:"email"`
	Name  string   `json:"name"`
	Role  Role     `json:"role"`
	Teams []string `json:"teams"`
	Away  bool     `json:"away"`
	// NoDigest: no morning queue digest for this agent.
	NoDigest bool `json:"no_digest,omitempty"`
}

// SLAPlan sets the targets a ticket is held to, and Policy the schedule,
// the pausing statuses and the escalation ladder.
type SLAPlan struct {
	Name          string
	FirstResponse time.Duration
	Resolution    time.Duration
	Policy        SLAPolicy
}

// HelpTopic is what a request is about; it decides routing and timing.
type HelpTopic struct {
	Name       string
	SLAPlan    string
	Priority   Priority
	Department string
	Team       string
	Assignee   string // agent email
}

// SyncDirectory makes the database's directory match d. It is idempotent:
// running it twice changes nothing the second time. Agents missing from d are
// deactivated rather than deleted, because tickets still name them.
func (s *Store) SyncDirectory(ctx context.Context, d Directory) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		for _, dep := range d.Departments {
			if _, err := tx.Exec(ctx, `INSERT INTO departments (name) VALUES ($1) ON CONFLICT (name) DO NOTHING`, dep.Name); err != nil {
				return fmt.Errorf("department %q: %w", dep.Name, err)
			}
		}
		for _, t := range d.Teams {
			if _, err := tx.Exec(ctx, `
				INSERT INTO teams (name, department_id, auto_assign)
				VALUES ($1, (SELECT id FROM departments WHERE name = nullif($2, '')), $3)
				ON CONFLICT (name) DO UPDATE SET department_id = excluded.department_id, auto_assign = excluded.auto_assign`,
				t.Name, t.Department, t.AutoAssign); err != nil {
				return fmt.Errorf("team %q: %w", t.Name, err)
			}
		}
		emails := make([]string, 0, len(d.Agents))
		for _, a := range d.Agents {
			email := strings.ToLower(a.Email)
			emails = append(emails, email)
			var id int64
			if err := tx.QueryRow(ctx, `
				INSERT INTO agents (email, name, role, away, no_digest, active) VALUES ($1, $2, $3, $4, $5, true)
				ON CONFLICT (email) DO UPDATE SET name = excluded.name, role = excluded.role,
					away = excluded.away, no_digest = excluded.no_digest, active = true
				RETURNING id`, email, a.Name, string(a.Role), a.Away, a.NoDigest).Scan(&id); err != nil {
				return fmt.Errorf("agent %q: %w", a.Email, err)
			}
			if _, err := tx.Exec(ctx, `DELETE FROM agent_teams WHERE agent_id = $1`, id); err != nil {
				return fmt.Errorf("agent %q teams: %w", a.Email, err)
			}
			for _, team := range a.Teams {
				if _, err := tx.Exec(ctx, `INSERT INTO agent_teams (agent_id, team_id) SELECT $1, id FROM teams WHERE name = $2`, id, team); err != nil {
					return fmt.Errorf("agent %q team %q: %w", a.Email, team, err)
				}
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE agents SET active = false WHERE NOT (email = ANY($1))`, emails); err != nil {
			return fmt.Errorf("deactivate agents: %w", err)
		}
		for _, p := range d.SLAPlans {
			if _, err := p.Policy.Schedule(); err != nil {
				return fmt.Errorf("sla plan %q: %w", p.Name, err)
			}
			policy, err := json.Marshal(p.Policy)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `
				INSERT INTO sla_plans (name, first_response_seconds, resolution_seconds, policy)
				VALUES ($1, $2, $3, $4)
				ON CONFLICT (name) DO UPDATE SET first_response_seconds = excluded.first_response_seconds,
					resolution_seconds = excluded.resolution_seconds, policy = excluded.policy`,
				p.Name, int64(p.FirstResponse/time.Second), int64(p.Resolution/time.Second), policy); err != nil {
				return fmt.Errorf("sla plan %q: %w", p.Name, err)
			}
		}
		for _, h := range d.HelpTopics {
			prio := h.Priority
			if prio == "" {
				prio = PriorityNormal
			}
			if _, err := tx.Exec(ctx, `
				INSERT INTO help_topics (name, sla_plan_id, priority, department_id, team_id, assignee_id)
				VALUES ($1,
					(SELECT id FROM sla_plans WHERE name = nullif($2, '')), $3,
					(SELECT id FROM departments WHERE name = nullif($4, '')),
					(SELECT id FROM teams WHERE name = nullif($5, '')),
					(SELECT id FROM agents WHERE email = lower(nullif($6, ''))))
				ON CONFLICT (name) DO UPDATE SET sla_plan_id = excluded.sla_plan_id, priority = excluded.priority,
					department_id = excluded.department_id, team_id = excluded.team_id, assignee_id = excluded.assignee_id`,
				h.Name, h.SLAPlan, string(prio), h.Department, h.Team, h.Assignee); err != nil {
				return fmt.Errorf("help topic %q: %w", h.Name, err)
			}
		}
		return nil
	})
}

// Agents lists the active agents, admins first.
func (s *Store) Agents(ctx context.Context) ([]Agent, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT a.id, a.email, a.name, a.role, a.away,
			coalesce(array_agg(t.name ORDER BY t.name) FILTER (WHERE t.name IS NOT NULL), '{}')
		FROM agents a
		LEFT JOIN agent_teams at ON at.agent_id = a.id
		LEFT JOIN teams t ON t.id = at.team_id
		WHERE a.active
		GROUP BY a.id ORDER BY a.role, a.email`)
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Agent, error) {
		var a Agent
		err := r.Scan(&a.ID, &a.Email, &a.Name, &a.Role, &a.Away, &a.Teams)
		return a, err
	})
}
