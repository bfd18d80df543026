package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// StoredMessage is a message as intake stored it.
type StoredMessage struct {
	ID         int64     `json:"id"`
	Mailbox    string    `json:"mailbox"`
	MessageID  string    `json:"message_id,omitempty"`
	Class      Class     `json:"class"`
	Ticket     int64     `json:"ticket,omitempty"`
	Note       string    `json:"note,omitempty"`
	Size       int       `json:"size"`
	ReceivedAt time.Time `json:"received_at"`
	Raw        []byte    `json:"-"`
}

// MessageFilter selects stored messages. Zero fields match everything.
type MessageFilter struct {
	Class      Class
	Unthreaded bool // only messages on no ticket (machine mail, no-reply senders, spam)
	Limit      int
}

// Messages lists stored messages, newest first: how an admin finds mail
// that opened no ticket.
func (s *Store) Messages(ctx context.Context, f MessageFilter) ([]StoredMessage, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	rows, err := s.pool.Query(ctx, `SELECT `+storedMessageColumns+`
		FROM messages m LEFT JOIN tickets t ON t.id = m.ticket_id
		WHERE ($1 = '' OR m.class = $1) AND (NOT $2 OR m.ticket_id IS NULL)
		ORDER BY m.id DESC LIMIT $3`, string(f.Class), f.Unthreaded, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (StoredMessage, error) { return scanStoredMessage(r) })
}

// storedMessageColumns are a StoredMessage's columns, from messages m
// joined to tickets t; scanStoredMessage reads them (and extra after them).
const storedMessageColumns = `m.id, m.mailbox, m.message_id, m.class, coalesce(t.number, 0), m.note, length(m.raw), m.received_at`

func scanStoredMessage(r pgx.Row, extra ...any) (StoredMessage, error) {
	var m StoredMessage
	err := r.Scan(append([]any{&m.ID, &m.Mailbox, &m.MessageID, &m.Class, &m.Ticket, &m.Note, &m.Size, &m.ReceivedAt}, extra...)...)
	return m, err
}

// MessageRaw returns a stored message's raw bytes.
func (s *Store) MessageRaw(ctx context.Context, id int64) ([]byte, error) {
	var raw []byte
	err := s.pool.QueryRow(ctx, `SELECT raw FROM messages WHERE id = $1`, id).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("message %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load message %d: %w", id, err)
	}
	return raw, nil
}
