package core

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// CheckSLA marks tickets whose resolution or first-response target has
// passed as overdue, writes the event and alerts the assignee and admins,
// once per ticket. Tickets are claimed with SKIP LOCKED, so two daemons
// running the checker at once never alert twice. It returns how many
// tickets it marked.
func (s *Store) CheckSLA(ctx context.Context, now time.Time) (int, error) {
	marked := 0
	for {
		n, err := s.checkSLABatch(ctx, now, 500)
		marked += n
		if err != nil || n < 500 {
			return marked, err
		}
	}
}

func (s *Store) checkSLABatch(ctx context.Context, now time.Time, limit int) (int, error) {
	var n int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT number FROM tickets
			WHERE status IN ('open', 'pending') AND NOT overdue
			  AND (resolution_due <= $1 OR (first_responded_at IS NULL AND first_response_due <= $1))
			ORDER BY number LIMIT $2 FOR UPDATE SKIP LOCKED`, now, limit)
		if err != nil {
			return fmt.Errorf("find overdue tickets: %w", err)
		}
		numbers, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return fmt.Errorf("find overdue tickets: %w", err)
		}
		for _, num := range numbers {
			t, err := ticketByNumber(ctx, tx, num, false)
			if err != nil {
				return err
			}
			target, due := "resolution", t.ResolutionDue
			if t.FirstRespondedAt == nil && t.FirstResponseDue != nil && (due == nil || t.FirstResponseDue.Before(*due)) {
				target, due = "first response", t.FirstResponseDue
			}
			if _, err := tx.Exec(ctx, `UPDATE tickets SET overdue = true, updated_at = $2 WHERE id = $1`, t.ID, now); err != nil {
				return fmt.Errorf("mark %d overdue: %w", num, err)
			}
			late := now.Sub(*due).Round(time.Minute)
			if err := addEntry(ctx, tx, t.ID, entry{kind: EntryEvent, event: EventOverdue,
				data: map[string]any{"target": target, "due": due.UTC().Format(time.RFC3339), "late": late.String()}}, now); err != nil {
				return err
			}
			data := map[string]any{"Target": target, "Due": due.UTC().Format("2006-01-02 15:04 MST"), "Late": late.String()}
			list, err := agentsWhere(ctx, tx, `a.role = 'admin' OR a.id = $1`, t.assigneeID)
			if err != nil {
				return err
			}
			if err := s.mailAgents(ctx, tx, now, t, list, TemplateSLABreach, "", data); err != nil {
				return err
			}
		}
		n = len(numbers)
		return nil
	})
	return n, err
}
