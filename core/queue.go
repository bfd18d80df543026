package core

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// queueLimit is how many tickets a queue mail lists.
const queueLimit = 100

// isQueueRequest reports a mail that is /queue alone: the agent asks for
// their queue, about no ticket.
func isQueueRequest(in *Inbound) bool {
	return len(in.Commands) == 1 && in.Commands[0].Name == "queue" && len(in.Commands[0].Args) == 0
}

// answerQueue mails an agent their queue: their open tickets and their
// teams' unassigned ones, the nearest SLA due time first. It goes to the
// agent's configured address whoever sent the request, so a forged
// request shows a spoofer nothing.
func (s *Store) answerQueue(ctx context.Context, tx pgx.Tx, in *Inbound, now time.Time, res *IngestResult) (bool, error) {
	n, err := s.mailQueue(ctx, tx, in.From.Email, in.MessageID, false, now, res)
	return n >= 0, err
}

// mailQueue mails the agent with email their queue; it returns how many
// tickets it listed, -1 when email is no agent's. The morning digest
// skips an empty queue.
func (s *Store) mailQueue(ctx context.Context, tx pgx.Tx, email, inReplyTo string, morning bool, now time.Time, res *IngestResult) (int, error) {
	agent, err := agentByEmail(ctx, tx, email)
	if err != nil || agent == nil {
		return -1, err
	}
	rows, err := tx.Query(ctx, `SELECT `+ticketColumns+ticketJoins+`
		WHERE t.status IN ('open', 'pending') AND t.merged_into IS NULL
		  AND (t.assignee_id = $1 OR (t.assignee_id IS NULL AND t.team_id = ANY($2)))
		ORDER BY least(CASE WHEN t.first_responded_at IS NULL THEN t.first_response_due END, t.resolution_due) NULLS LAST, t.number
		LIMIT $3`, agent.id, agent.teams, queueLimit)
	if err != nil {
		return 0, fmt.Errorf("load the queue of %s: %w", agent.email, err)
	}
	var list []QueueItem
	for rows.Next() {
		t, err := scanTicket(rows)
		if err != nil {
			rows.Close()
			return 0, fmt.Errorf("load the queue of %s: %w", agent.email, err)
		}
		list = append(list, s.queueItem(t, agent, now))
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("load the queue of %s: %w", agent.email, err)
	}
	if morning && len(list) == 0 {
		return 0, nil
	}
	res.Action = fmt.Sprintf("queue of %d tickets mailed to %s", len(list), agent.email)
	return len(list), s.mailAgents(ctx, tx, now, nil, []recipient{{id: agent.id, addr: agent.address}}, TemplateQueue, inReplyTo,
		MailData{Tickets: list, Count: len(list), Agent: agent.name, Morning: morning})
}

// SendQueueDigests mails every active agent who is not away and has not
// opted out their queue, as /queue does, once on day (whichever daemon
// comes first). It returns how many were sent; agents with nothing open
// get nothing.
func (s *Store) SendQueueDigests(ctx context.Context, day time.Time, now time.Time) (int, error) {
	sent := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		claimed, err := claimDailyJob(ctx, tx, "queue_digest", day)
		if err != nil || !claimed {
			return err // !claimed: another daemon sent today's
		}
		rows, err := tx.Query(ctx, `SELECT email FROM agents WHERE active AND NOT away AND NOT no_digest ORDER BY id`)
		if err != nil {
			return fmt.Errorf("list agents: %w", err)
		}
		emails, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("list agents: %w", err)
		}
		for _, e := range emails {
			var res IngestResult
			n, err := s.mailQueue(ctx, tx, e, "", true, now, &res)
			if err != nil {
				return err
			}
			if n > 0 {
				sent++
			}
		}
		return nil
	})
	return sent, err
}

// claimDailyJob records that this daemon does the day's job name (the
// queue digests, the weekly report); false when another one already did.
func claimDailyJob(ctx context.Context, tx pgx.Tx, name string, day time.Time) (bool, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO daily_jobs (name, day) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
		name, day.Format(time.DateOnly))
	if err != nil {
		return false, fmt.Errorf("claim the %s of %s: %w", name, day.Format(time.DateOnly), err)
	}
	return tag.RowsAffected() == 1, nil
}

// queueItem is one line of a queue mail.
func (s *Store) queueItem(t *Ticket, agent *staff, now time.Time) QueueItem {
	due := t.ResolutionDue
	if t.FirstRespondedAt == nil && t.FirstResponseDue != nil {
		due = t.FirstResponseDue
	}
	item := QueueItem{Number: t.Number, Subject: t.Subject, Status: string(t.Status), Priority: string(t.Priority),
		Customer: t.Customer.Display(), Mine: t.assigneeID == agent.id, Overdue: t.Overdue}
	if due != nil {
		item.Due = due.UTC().Format("2006-01-02 15:04 UTC")
	}
	if s.statusBase != "" {
		item.URL = s.statusBase + "/status/" + s.StatusToken(t.Number, now.Add(StatusLinkLifetime))
	}
	return item
}
