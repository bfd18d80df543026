package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// SpamMessage is a stored message judged spam.
type SpamMessage struct {
	ID         int64     `json:"id"`
	Mailbox    string    `json:"mailbox"`
	MessageID  string    `json:"message_id,omitempty"`
	Note       string    `json:"reason"`
	Size       int       `json:"size"`
	ReceivedAt time.Time `json:"received_at"`
	Raw        []byte    `json:"-"`
}

// SpamList returns the spam not yet released, oldest first.
func (s *Store) SpamList(ctx context.Context) ([]SpamMessage, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, mailbox, message_id, note, length(raw), received_at FROM messages
		WHERE class = 'spam' AND released_at IS NULL ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list spam: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (SpamMessage, error) {
		var m SpamMessage
		return m, r.Scan(&m.ID, &m.Mailbox, &m.MessageID, &m.Note, &m.Size, &m.ReceivedAt)
	})
}

// SpamGet returns one spam message with its raw bytes.
func (s *Store) SpamGet(ctx context.Context, id int64) (*SpamMessage, error) {
	var m SpamMessage
	err := s.pool.QueryRow(ctx, `SELECT id, mailbox, message_id, note, length(raw), received_at, raw FROM messages
		WHERE id = $1 AND class = 'spam'`, id).Scan(&m.ID, &m.Mailbox, &m.MessageID, &m.Note, &m.Size, &m.ReceivedAt, &m.Raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("spam message %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load spam message %d: %w", id, err)
	}
	return &m, nil
}

// SpamRelease takes a spam message in as if it had just arrived, as in
// (parsed again by the caller, judged not spam): in one transaction the
// spam copy is marked released and set aside under another key, and in is
// ingested in its place.
func (s *Store) SpamRelease(ctx context.Context, id int64, in *Inbound, now time.Time) (IngestResult, error) {
	in.Sanitize()
	in.Released = true
	var res []IngestResult
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE messages SET released_at = $2, message_key = 'released:' || id || ':' || message_key
			WHERE id = $1 AND class = 'spam' AND released_at IS NULL`, id, now)
		if err != nil {
			return fmt.Errorf("release spam message %d: %w", id, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("spam message %d (not yet released): %w", id, ErrNotFound)
		}
		res, err = s.ingest(ctx, tx, []*Inbound{in}, nil, now)
		return err
	})
	if err != nil {
		return IngestResult{}, err
	}
	return res[0], nil
}

// storeSpam handles a message judged spam: it stays stored, opens and
// answers nothing, and only counts toward the admins' daily spam digest.
func (s *Store) storeSpam(ctx context.Context, tx pgx.Tx, in *Inbound, now time.Time, res *IngestResult) error {
	res.Action = "spam: stored, no ticket (" + in.Note + ")"
	admins, err := agentsWhere(ctx, tx, `a.role = 'admin'`)
	if err != nil {
		return err
	}
	return s.queueDigest(ctx, tx, now, admins, digestMail{key: "spam", template: TemplateSpamDigest,
		item: fmt.Sprintf("%s: %s (%s)", in.From.Email, in.Subject, in.Note), period: 24 * time.Hour, firstAfter: 24 * time.Hour})
}

// Block is a sender whose mail is spam: an address, or "@domain".
type Block struct {
	Pattern   string    `json:"pattern"`
	Reason    string    `json:"reason,omitempty"`
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// NormaliseBlock checks a block pattern: "user@example.com" or "@example.com".
func NormaliseBlock(pattern string) (string, error) {
	p := strings.ToLower(strings.TrimSpace(pattern))
	local, domain, ok := strings.Cut(p, "@")
	if !ok || domain == "" || strings.ContainsAny(domain, "@ ") || strings.ContainsAny(local, " ") {
		return "", fmt.Errorf("%q is neither an address nor @domain", pattern)
	}
	return p, nil
}

// AddBlock blocks a sender; adding one twice changes nothing.
func (s *Store) AddBlock(ctx context.Context, b Block, now time.Time) error {
	p, err := NormaliseBlock(b.Pattern)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error { return addBlock(ctx, tx, p, b.Reason, b.CreatedBy, now) })
}

func addBlock(ctx context.Context, tx pgx.Tx, pattern, reason, by string, now time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO blocks (pattern, reason, created_by, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (pattern) DO NOTHING`, pattern, CleanLine(reason), by, now)
	if err != nil {
		return fmt.Errorf("block %s: %w", pattern, err)
	}
	return nil
}

// RemoveBlock unblocks a sender.
func (s *Store) RemoveBlock(ctx context.Context, pattern string) error {
	p, err := NormaliseBlock(pattern)
	if err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM blocks WHERE pattern = $1`, p)
	if err != nil {
		return fmt.Errorf("unblock %s: %w", p, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("block %s: %w", p, ErrNotFound)
	}
	return nil
}

// Blocks lists the blocked senders.
func (s *Store) Blocks(ctx context.Context) ([]Block, error) {
	rows, err := s.pool.Query(ctx, `SELECT pattern, reason, created_by, created_at FROM blocks ORDER BY pattern`)
	if err != nil {
		return nil, fmt.Errorf("list blocks: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Block, error) {
		var b Block
		return b, r.Scan(&b.Pattern, &b.Reason, &b.CreatedBy, &b.CreatedAt)
	})
}

// markBlocked turns human mail from blocked senders into spam, before it
// is stored.
func markBlocked(ctx context.Context, tx pgx.Tx, msgs []*Inbound) error {
	var patterns []string
	for _, m := range msgs {
		if m.Class == ClassHuman && m.From.Email != "" && !m.Released {
			_, domain, _ := strings.Cut(m.From.Email, "@")
			patterns = append(patterns, m.From.Email, "@"+domain)
		}
	}
	if len(patterns) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT pattern FROM blocks WHERE pattern = ANY($1)`, patterns)
	if err != nil {
		return fmt.Errorf("check blocks: %w", err)
	}
	blocked, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("check blocks: %w", err)
	}
	for _, m := range msgs {
		_, domain, _ := strings.Cut(m.From.Email, "@")
		for _, b := range blocked {
			if m.Class == ClassHuman && !m.Released && (b == m.From.Email || b == "@"+domain) {
				m.Class, m.Note = ClassSpam, "sender blocked ("+b+")"
			}
		}
	}
	return nil
}
