package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// digestItems is how many events a digest mail lists; it counts them all.
const digestItems = 5

// digestMail is a mail that gathers events of one kind for its recipients,
// so a burst of them costs each recipient at most one mail per period.
type digestMail struct {
	key      string // what the events are about, e.g. "quarantine"
	template string
	ticket   *Ticket // nil for mail about no ticket
	data     MailData
	item     string // this event, one line
	period   time.Duration
	// firstAfter holds the first mail of a period this long: zero sends it
	// at once, so the first event is news while later ones gather.
	firstAfter time.Duration
}

// queueDigest adds one event to each recipient's digest: to the mail still
// waiting to go if there is one, else to a new mail due when the recipient's
// last digest is a period old. Template data carries Count (events so
// far) and Items (the first few, one line each).
func (s *Store) queueDigest(ctx context.Context, tx pgx.Tx, now time.Time, list []recipient, d digestMail) error {
	for _, r := range list {
		added, err := addToWaitingDigest(ctx, tx, d.key, r.addr.Email, d.item, now)
		if err != nil {
			return err
		}
		if added {
			continue
		}
		due, err := nextDigestDue(ctx, tx, d, r.addr.Email, now)
		if err != nil {
			return err
		}
		data := d.data
		data.Count, data.Items = 1, []string{d.item}
		row, err := s.buildRow(outMail{ticket: d.ticket, template: d.template, to: r.addr, agentID: r.id, data: data, notBefore: due}, now)
		if err != nil {
			return err
		}
		row.digestKey = d.key
		if err := insertRows(ctx, tx, []outboxRow{row}, now); err != nil {
			return err
		}
	}
	return nil
}

// addToWaitingDigest counts an event on a digest not yet claimed by a
// sender (attempts = 0): a claimed one may be on the wire already.
func addToWaitingDigest(ctx context.Context, tx pgx.Tx, key, email, item string, now time.Time) (bool, error) {
	tag, err := tx.Exec(ctx, `
		UPDATE outbox SET data = jsonb_set(jsonb_set(data, '{Count}', to_jsonb((data->>'Count')::int + 1)), '{Items}',
			CASE WHEN jsonb_array_length(data->'Items') < $4 THEN data->'Items' || to_jsonb($3::text) ELSE data->'Items' END)
		WHERE digest_key = $1 AND to_email = $2 AND state = 'pending' AND attempts = 0 AND next_attempt_at > $5`,
		key, email, item, digestItems, now)
	if err != nil {
		return false, fmt.Errorf("add to %s digest for %s: %w", key, email, err)
	}
	return tag.RowsAffected() > 0, nil
}

// nextDigestDue is when a new digest may go: a period after the last one
// went (or was queued), or firstAfter from now when there was none.
func nextDigestDue(ctx context.Context, tx pgx.Tx, d digestMail, email string, now time.Time) (time.Time, error) {
	var last time.Time
	err := tx.QueryRow(ctx, `SELECT max(coalesce(sent_at, created_at)) FROM outbox
		WHERE digest_key = $1 AND to_email = $2 AND created_at > $3 HAVING count(*) > 0`,
		d.key, email, now.Add(-d.period-d.firstAfter)).Scan(&last)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return now.Add(d.firstAfter), nil
	case err != nil:
		return time.Time{}, fmt.Errorf("last %s digest for %s: %w", d.key, email, err)
	}
	if due := last.Add(d.period); due.After(now) {
		return due, nil
	}
	return now.Add(d.firstAfter), nil
}
