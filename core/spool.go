package core

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrTooLarge is returned for a message past the most intake will keep.
var ErrTooLarge = errors.New("message larger than the hard cap")

// QuarantineStream quarantines a message as it is read from r, in chunks,
// so an oversized message costs a few megabytes of memory whatever its
// size. A message longer than max is refused with ErrTooLarge and nothing
// is kept (the MTA then bounces it). Like Quarantine, the same bytes are
// stored once and the admins are alerted at most hourly.
func (s *Store) QuarantineStream(ctx context.Context, mailbox, reason string, r io.Reader, max int64, now time.Time) (int64, error) {
	var id int64
	mailbox, reason = CleanLine(mailbox), CleanLine(reason)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// A placeholder digest until the whole message has been read.
		placeholder := fmt.Sprintf("spooling:%d", now.UnixNano())
		if err := tx.QueryRow(ctx, `INSERT INTO quarantine (mailbox, reason, digest, raw, created_at) VALUES ($1, $2, $3, '', $4)
			RETURNING id`, mailbox, reason, placeholder, now).Scan(&id); err != nil {
			return fmt.Errorf("start quarantine: %w", err)
		}
		digest, err := spoolChunks(ctx, tx, id, r, max)
		if err != nil {
			return err
		}
		var existing int64
		err = tx.QueryRow(ctx, `SELECT id FROM quarantine WHERE digest = $1`, digest).Scan(&existing)
		if err == nil {
			id = existing
			return errSameBytes
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("look up quarantine digest: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE quarantine SET digest = $2 WHERE id = $1`, id, digest); err != nil {
			return fmt.Errorf("finish quarantine %d: %w", id, err)
		}
		return s.alertQuarantine(ctx, tx, now, id, mailbox, reason)
	})
	if errors.Is(err, errSameBytes) {
		return id, nil // already quarantined: the spooled copy is rolled back
	}
	if err != nil {
		return 0, fmt.Errorf("spool message into quarantine: %w", err)
	}
	return id, nil
}

var errSameBytes = errors.New("already quarantined")

// spoolChunks writes r as chunk rows of quarantine id and returns its digest.
func spoolChunks(ctx context.Context, tx pgx.Tx, id int64, r io.Reader, max int64) (string, error) {
	h := sha256.New()
	chunk := make([]byte, rawChunk)
	var total int64
	for seq := 0; ; seq++ {
		n, err := io.ReadFull(r, chunk)
		if n > 0 {
			if total += int64(n); total > max {
				return "", fmt.Errorf("%w (%d bytes)", ErrTooLarge, max)
			}
			h.Write(chunk[:n])
			if _, err := tx.Exec(ctx, `INSERT INTO quarantine_chunks (quarantine_id, seq, data) VALUES ($1, $2, $3)`,
				id, seq, chunk[:n]); err != nil {
				return "", fmt.Errorf("store chunk %d: %w", seq, err)
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
		}
		if err != nil {
			return "", fmt.Errorf("read message: %w", err)
		}
	}
}
