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
	agent, err := agentByEmail(ctx, tx, in.From.Email)
	if err != nil || agent == nil {
		return false, err
	}
	rows, err := tx.Query(ctx, `SELECT `+ticketColumns+ticketJoins+`
		WHERE t.status IN ('open', 'pending') AND t.merged_into IS NULL
		  AND (t.assignee_id = $1 OR (t.assignee_id IS NULL AND t.team_id = ANY($2)))
		ORDER BY least(CASE WHEN t.first_responded_at IS NULL THEN t.first_response_due END, t.resolution_due) NULLS LAST, t.number
		LIMIT $3`, agent.id, agent.teams, queueLimit)
	if err != nil {
		return true, fmt.Errorf("load the queue of %s: %w", agent.email, err)
	}
	var list []map[string]any
	for rows.Next() {
		t, err := scanTicket(rows)
		if err != nil {
			rows.Close()
			return true, fmt.Errorf("load the queue of %s: %w", agent.email, err)
		}
		list = append(list, s.queueItem(t, agent, now))
	}
	if err := rows.Err(); err != nil {
		return true, fmt.Errorf("load the queue of %s: %w", agent.email, err)
	}
	res.Action = fmt.Sprintf("queue of %d tickets mailed to %s", len(list), agent.email)
	return true, s.mailAgents(ctx, tx, now, nil, []recipient{{id: agent.id, addr: agent.address}}, TemplateQueue, in.MessageID,
		map[string]any{"Tickets": list, "Count": len(list), "Agent": agent.name})
}

// queueItem is one line of a queue mail.
func (s *Store) queueItem(t *Ticket, agent *staff, now time.Time) map[string]any {
	due := t.ResolutionDue
	if t.FirstRespondedAt == nil && t.FirstResponseDue != nil {
		due = t.FirstResponseDue
	}
	item := map[string]any{"Number": t.Number, "Subject": t.Subject, "Status": string(t.Status), "Priority": string(t.Priority),
		"Customer": t.Customer.Display(), "Mine": t.assigneeID == agent.id, "Overdue": t.Overdue}
	if due != nil {
		item["Due"] = due.UTC().Format("2006-01-02 15:04 UTC")
	}
	if s.statusBase != "" {
		item["URL"] = s.statusBase + "/status/" + s.StatusToken(t.Number, now.Add(StatusLinkLifetime))
	}
	return item
}
