package core

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Retention says how long what of closed tickets is kept; zero keeps it
// for good. Thread text, events and numbers are always kept.
type Retention struct {
	Raw        time.Duration // raw originals (and their files) of tickets closed this long
	SentMail   time.Duration // bodies of sent mail about tickets closed this long
	Quarantine time.Duration // quarantined messages this old
}

// PurgeCounts is what a purge removed, or would remove.
type PurgeCounts struct {
	Raw, SentMail, Quarantine int64
}

// Purge removes at most batch rows of each kind past its retention, one
// transaction per call: the cron job calls it until nothing is left, so no
// run holds locks for long. With dryRun it only counts what would go.
func (s *Store) Purge(ctx context.Context, r Retention, batch int, dryRun bool, now time.Time) (PurgeCounts, error) {
	var c PurgeCounts
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		for _, p := range []struct {
			keep time.Duration
			// rows are what is past retention ($1 the cut-off), as
			// "ID FROM ... WHERE ..."; purge removes the rows in gone.
			rows, purge string
			n           *int64
		}{
			{r.Raw, `m.id FROM messages m JOIN tickets t ON t.id = m.ticket_id
				WHERE t.status = 'closed' AND t.closed_at < $1 AND octet_length(m.raw) > 0`, `,
				files AS (DELETE FROM attachments WHERE message_ref IN (SELECT id FROM gone))
				UPDATE messages SET raw = '', note = 'raw purged by retention' WHERE id IN (SELECT id FROM gone)`, &c.Raw},
			{r.SentMail, `o.id FROM outbox o JOIN tickets t ON t.id = o.ticket_id
				WHERE o.state = 'sent' AND t.status = 'closed' AND t.closed_at < $1 AND o.data <> '{}'`,
				`UPDATE outbox SET data = '{}' WHERE id IN (SELECT id FROM gone)`, &c.SentMail},
			{r.Quarantine, `id FROM quarantine WHERE created_at < $1`,
				`DELETE FROM quarantine WHERE id IN (SELECT id FROM gone)`, &c.Quarantine},
		} {
			if p.keep <= 0 {
				continue
			}
			before := now.Add(-p.keep)
			if dryRun {
				if err := tx.QueryRow(ctx, `SELECT count(*) FROM (SELECT `+p.rows+`) past`, before).Scan(p.n); err != nil {
					return fmt.Errorf("count what retention purges: %w", err)
				}
				continue
			}
			tag, err := tx.Exec(ctx, `WITH gone AS (SELECT `+p.rows+` LIMIT $2) `+p.purge, before, batch)
			if err != nil {
				return fmt.Errorf("purge: %w", err)
			}
			*p.n = tag.RowsAffected()
		}
		return nil
	})
	return c, err
}
