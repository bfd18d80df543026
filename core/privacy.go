package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// EventErased records that a customer's personal data was erased.
const EventErased = "erased"

// ErasedText replaces every text the erased customer wrote.
const ErasedText = "[erased at the customer's request]"

// CustomerExport is everything kept about one customer: a privacy
// request's answer.
type CustomerExport struct {
	Customer Address         `json:"customer"`
	Tickets  []Thread        `json:"tickets"`
	Messages []StoredMessage `json:"messages"`
}

// ExportCustomer gathers a customer's data: their tickets with the whole
// thread, and every message they sent, raw.
func (s *Store) ExportCustomer(ctx context.Context, email string) (*CustomerExport, error) {
	var id int64
	var out CustomerExport
	err := s.pool.QueryRow(ctx, `SELECT id, name, email FROM customers WHERE email = lower($1)`, email).
		Scan(&id, &out.Customer.Name, &out.Customer.Email)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("customer %s: %w", email, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", email, err)
	}
	rows, err := s.pool.Query(ctx, `SELECT number FROM tickets WHERE customer_id = $1 ORDER BY number`, id)
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", email, err)
	}
	numbers, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", email, err)
	}
	for _, n := range numbers {
		th, err := s.ShowTicket(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("export %s: %w", email, err)
		}
		out.Tickets = append(out.Tickets, *th)
	}
	rows, err = s.pool.Query(ctx, `SELECT `+storedMessageColumns+`, m.raw
		FROM messages m LEFT JOIN tickets t ON t.id = m.ticket_id
		WHERE m.id IN (SELECT message_ref FROM entries WHERE customer_id = $1 AND message_ref IS NOT NULL)
		ORDER BY m.id`, id)
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", email, err)
	}
	out.Messages, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (StoredMessage, error) {
		var raw []byte
		m, err := scanStoredMessage(r, &raw)
		m.Raw = raw
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", email, err)
	}
	return &out, nil
}

// EraseCustomer removes a customer's personal data, at their request, in
// one transaction: the raw mail they sent and its attachments, their name
// and address, the text of their messages (a placeholder stays), their
// address in the outbox and quarantined mail naming them. Ticket numbers,
// events and figures stay, and each of their tickets records who erased
// what and when. It returns how many tickets it touched.
func (s *Store) EraseCustomer(ctx context.Context, email, byAdmin string, now time.Time) (int, error) {
	touched := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		admin, err := agentByEmail(ctx, tx, byAdmin)
		if err != nil {
			return err
		}
		if admin == nil || admin.role != RoleAdmin {
			return fmt.Errorf("%s is not an active admin: only admins erase customers", byAdmin)
		}
		var id int64
		err = tx.QueryRow(ctx, `SELECT id FROM customers WHERE email = lower($1) FOR UPDATE`, email).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("customer %s: %w", email, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("erase %s: %w", email, err)
		}
		var tickets []int64
		rows, err := tx.Query(ctx, `SELECT DISTINCT ticket_id FROM entries WHERE customer_id = $1
			UNION SELECT id FROM tickets WHERE customer_id = $1`, id)
		if err == nil {
			tickets, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		}
		if err != nil {
			return fmt.Errorf("erase %s: %w", email, err)
		}
		lower := strings.ToLower(strings.TrimSpace(email))
		for _, st := range []struct {
			sql  string
			args []any
		}{
			{`DELETE FROM attachments WHERE message_ref IN (SELECT message_ref FROM entries WHERE customer_id = $1)`, []any{id}},
			{`UPDATE messages SET raw = '', message_id = '', note = 'erased' WHERE id IN (SELECT message_ref FROM entries WHERE customer_id = $1)`, []any{id}},
			{`UPDATE entries SET body = $2 WHERE customer_id = $1 AND kind = 'message'`, []any{id, ErasedText}},
			{`UPDATE outbox SET recipient = 'erased-' || id || '@erased.invalid', to_email = 'erased-' || id || '@erased.invalid',
				cc = '', data = '{}' WHERE to_email = $1 OR position($1 in lower(cc)) > 0`, []any{lower}},
			{`DELETE FROM quarantine WHERE position(convert_to($1, 'UTF8') in raw) > 0`, []any{lower}},
			{`DELETE FROM ticket_collaborators WHERE customer_id = $1`, []any{id}},
			{`UPDATE customers SET email = 'erased-' || id || '@erased.invalid', name = '', undeliverable_at = NULL WHERE id = $1`, []any{id}},
		} {
			if _, err := tx.Exec(ctx, st.sql, st.args...); err != nil {
				return fmt.Errorf("erase %s: %w", email, err)
			}
		}
		for _, t := range tickets {
			if err := addEntry(ctx, tx, t, entry{kind: EntryEvent, event: EventErased, agentID: admin.id,
				data: map[string]any{"what": "the customer's name, address, mail, files and message text", "at": now.UTC().Format(time.RFC3339)}},
				now); err != nil {
				return err
			}
		}
		touched = len(tickets)
		return nil
	})
	return touched, err
}
