package core

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Explanation says what Ingest would do with a message, and why.
type Explanation struct {
	Duplicate bool   `json:"duplicate"`
	Ticket    int64  `json:"ticket,omitempty"` // the ticket it threads onto, 0 for a new one
	Threading string `json:"threading"`        // the rule that matched, or why a new ticket
	Agent     string `json:"agent,omitempty"`  // the agent it claims to come from
	Verified  bool   `json:"verified"`         // that agent proved it
}

// Explain runs the threading rules against the database without writing
// anything: the explain command's dry run.
func (s *Store) Explain(ctx context.Context, in *Inbound) (Explanation, error) {
	var ex Explanation
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return ex, &TemporaryError{err}
	}
	defer tx.Rollback(ctx)
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM messages WHERE message_key = $1)`, in.Key()).Scan(&exists); err != nil {
		return ex, fmt.Errorf("look up message: %w", err)
	}
	ex.Duplicate = exists
	t, how, err := s.findTicket(ctx, tx, in, false)
	if err != nil {
		return ex, err
	}
	if t == nil {
		ex.Threading = "no reply token, reference or subject tag of a ticket this sender is on: a new ticket"
		if in.Class.Machine() {
			ex.Threading = "machine mail that refers to no ticket: stored, no ticket"
		}
	} else {
		ex.Ticket, ex.Threading = t.Number, how
	}
	agent, err := agentByEmail(ctx, tx, in.From.Email)
	if err != nil {
		return ex, err
	}
	if agent != nil {
		ex.Agent = agent.email
		tok, ok := s.ParseToken(in.ReplyToken)
		ex.Verified = (ok && tok.Agent == agent.id && t != nil && tok.Ticket == t.Number) || aligned(agent.email, in.AuthPass)
	}
	return ex, nil
}
