package core

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// recipient is an agent to mail: their token names them.
type recipient struct {
	id   int64
	addr Address
}

// agentsWhere lists active agents matching a condition on agents a (and
// agent_teams at, joined), each once, in id order.
func agentsWhere(ctx context.Context, tx pgx.Tx, cond string, args ...any) ([]recipient, error) {
	rows, err := tx.Query(ctx, `SELECT DISTINCT a.id, a.name, a.email FROM agents a
		LEFT JOIN agent_teams at ON at.agent_id = a.id WHERE a.active AND (`+cond+`) ORDER BY a.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("find agents: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (recipient, error) {
		var w recipient
		return w, r.Scan(&w.id, &w.addr.Name, &w.addr.Email)
	})
}

// mailAgents queues one mail per agent about ticket t (nil for none).
// Agents' addresses are never suppressed, so the rows go in one statement.
func (s *Store) mailAgents(ctx context.Context, tx pgx.Tx, now time.Time, t *Ticket, list []recipient, template, inReplyTo string, data MailData) error {
	rows := make([]outboxRow, 0, len(list))
	for _, w := range list {
		row, err := s.buildRow(outMail{ticket: t, template: template, to: w.addr, agentID: w.id, inReplyTo: inReplyTo, data: data}, now)
		if err != nil {
			return err
		}
		rows = append(rows, row)
	}
	return insertRows(ctx, tx, rows, now)
}

// alertees finds who hears of a new ticket: the admins, plus the assignee
// or, when nobody is assigned, the team's members who are not away. One
// value serves a whole batch, loading the admins and each team once.
type alertees struct {
	admins []recipient
	loaded bool
	teams  map[int64][]recipient
}

func (a *alertees) forNewTicket(ctx context.Context, tx pgx.Tx, t *Ticket) ([]recipient, error) {
	if !a.loaded {
		admins, err := agentsWhere(ctx, tx, `a.role = 'admin'`)
		if err != nil {
			return nil, err
		}
		a.admins, a.loaded, a.teams = admins, true, map[int64][]recipient{}
	}
	to := append([]recipient(nil), a.admins...)
	switch {
	case t.assigneeID != 0 && t.Assignee != nil:
		to = append(to, recipient{id: t.assigneeID, addr: *t.Assignee})
	case t.teamID != 0:
		if _, ok := a.teams[t.teamID]; !ok {
			members, err := agentsWhere(ctx, tx, `at.team_id = $1 AND NOT a.away`, t.teamID)
			if err != nil {
				return nil, err
			}
			a.teams[t.teamID] = members
		}
		to = append(to, a.teams[t.teamID]...)
	}
	seen := map[int64]bool{}
	out := to[:0]
	for _, r := range to {
		if !seen[r.id] {
			seen[r.id] = true
			out = append(out, r)
		}
	}
	return out, nil
}
