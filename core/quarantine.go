package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Quarantine keeps a message intake could not take in, with its raw bytes,
// advances the checkpoint past it and alerts the admins (at most hourly, see
// queueDigest), all in one transaction. The same bytes quarantined twice are stored once.
func (s *Store) Quarantine(ctx context.Context, mailbox, reason string, raw []byte, cp *Checkpoint, now time.Time) (int64, error) {
	var id int64
	mailbox, reason = CleanLine(mailbox), CleanLine(reason)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if cp != nil {
			if err := saveCheckpoint(ctx, tx, *cp, now); err != nil {
				return err
			}
		}
		err := tx.QueryRow(ctx, `INSERT INTO quarantine (mailbox, reason, digest, raw, created_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (digest) DO NOTHING RETURNING id`, mailbox, reason, DigestKey(raw), firstChunk(raw), now).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return tx.QueryRow(ctx, `SELECT id FROM quarantine WHERE digest = $1`, DigestKey(raw)).Scan(&id)
		}
		if err != nil {
			return fmt.Errorf("store quarantined message: %w", err)
		}
		for off := rawChunk; off < len(raw); off += rawChunk {
			if _, err := tx.Exec(ctx, `UPDATE quarantine SET raw = raw || $2 WHERE id = $1`, id, raw[off:min(off+rawChunk, len(raw))]); err != nil {
				return fmt.Errorf("store quarantined message %d: %w", id, err)
			}
		}
		return s.alertQuarantine(ctx, tx, now, id, mailbox, reason)
	})
	return id, err
}

// alertQuarantine tells the admins of a quarantined message. A corpus of
// bad mail must not become a mail per message: they hear of the first at
// once, of the rest once an hour.
func (s *Store) alertQuarantine(ctx context.Context, tx pgx.Tx, now time.Time, id int64, mailbox, reason string) error {
	admins, err := agentsWhere(ctx, tx, `a.role = 'admin'`)
	if err != nil {
		return err
	}
	return s.queueDigest(ctx, tx, now, admins, digestMail{key: "quarantine", template: TemplateQuarantineAlert,
		data: MailData{Mailbox: mailbox, QuarantineID: id},
		item: fmt.Sprintf("%d (mailbox %s): %s", id, mailbox, reason), period: time.Hour})
}

// QuarantinedMessage is a message intake set aside.
type QuarantinedMessage struct {
	ID        int64     `json:"id"`
	Mailbox   string    `json:"mailbox"`
	Reason    string    `json:"reason"`
	Size      int       `json:"size"`
	CreatedAt time.Time `json:"created_at"`
	Raw       []byte    `json:"-"`
}

// QuarantineList returns the quarantined messages not yet released.
func (s *Store) QuarantineList(ctx context.Context) ([]QuarantinedMessage, error) {
	rows, err := s.pool.Query(ctx, `SELECT q.id, q.mailbox, q.reason,
			length(q.raw) + coalesce((SELECT sum(length(c.data)) FROM quarantine_chunks c WHERE c.quarantine_id = q.id), 0),
			q.created_at
		FROM quarantine q WHERE q.released_at IS NULL ORDER BY q.id`)
	if err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (QuarantinedMessage, error) {
		var q QuarantinedMessage
		err := r.Scan(&q.ID, &q.Mailbox, &q.Reason, &q.Size, &q.CreatedAt)
		return q, err
	})
}

// alertAdmins queues one mail to every active admin, about no ticket.
func (s *Store) alertAdmins(ctx context.Context, tx pgx.Tx, now time.Time, template string, data MailData) error {
	admins, err := agentsWhere(ctx, tx, `a.role = 'admin'`)
	if err != nil {
		return err
	}
	return s.mailAgents(ctx, tx, now, nil, admins, template, "", data)
}

// QuarantinePending counts the quarantined messages not yet released,
// without reading them.
func (s *Store) QuarantinePending(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM quarantine WHERE released_at IS NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count quarantine: %w", err)
	}
	return n, nil
}

// QuarantineGet returns one quarantined message with its raw bytes.
func (s *Store) QuarantineGet(ctx context.Context, id int64) (*QuarantinedMessage, error) {
	var q QuarantinedMessage
	err := s.pool.QueryRow(ctx, `SELECT id, mailbox, reason, length(raw), created_at, raw FROM quarantine WHERE id = $1`, id).
		Scan(&q.ID, &q.Mailbox, &q.Reason, &q.Size, &q.CreatedAt, &q.Raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("quarantined message %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load quarantined message %d: %w", id, err)
	}
	// A spooled message is in chunks; joined here rather than in SQL, where
	// one value cannot pass 1 GB.
	rows, err := s.pool.Query(ctx, `SELECT data FROM quarantine_chunks WHERE quarantine_id = $1 ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("load quarantined message %d: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var chunk []byte
		if err := rows.Scan(&chunk); err != nil {
			return nil, fmt.Errorf("load quarantined message %d: %w", id, err)
		}
		q.Raw = append(q.Raw, chunk...)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load quarantined message %d: %w", id, err)
	}
	q.Size = len(q.Raw)
	return &q, nil
}

// QuarantineRelease marks a quarantined message as taken in after all.
func (s *Store) QuarantineRelease(ctx context.Context, id int64, now time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE quarantine SET released_at = $2 WHERE id = $1`, id, now)
	if err != nil {
		return fmt.Errorf("release quarantined message %d: %w", id, err)
	}
	return nil
}
