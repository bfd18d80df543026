package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNotFound is returned when a ticket or person does not exist.
var ErrNotFound = errors.New("not found")

const ticketColumns = `
	t.id, t.number, t.subject, t.status, t.priority, c.name, c.email, c.id,
	coalesce(h.name, ''), coalesce(d.name, ''), coalesce(tm.name, ''), coalesce(t.team_id, 0),
	coalesce(t.department_id, 0), a.name, a.email, coalesce(t.assignee_id, 0),
	coalesce(p.name, ''), coalesce(t.sla_plan_id, 0), t.first_response_due, t.resolution_due,
	t.first_responded_at, t.overdue,
	CASE WHEN t.sla_clock_since IS NOT NULL THEN 'running'
		WHEN t.sla_plan_id IS NOT NULL AND t.status IN ('open', 'pending') THEN 'paused' ELSE 'stopped' END,
	t.next_escalation_at, t.created_at, t.updated_at, t.resolved_at, t.closed_at, t.root_message_id,
	coalesce((SELECT array_agg(cc.email ORDER BY cc.email) FROM ticket_collaborators tc
		JOIN customers cc ON cc.id = tc.customer_id WHERE tc.ticket_id = t.id), '{}'), t.spam,
	coalesce((SELECT number FROM tickets m WHERE m.id = t.merged_into), 0), t.mailbox,
	coalesce((SELECT array_agg(o.number ORDER BY o.number) FROM ticket_links l JOIN tickets o ON o.id = l.linked_id
		WHERE l.ticket_id = t.id), '{}')`

const ticketJoins = `
	FROM tickets t
	JOIN customers c ON c.id = t.customer_id
	LEFT JOIN help_topics h ON h.id = t.help_topic_id
	LEFT JOIN departments d ON d.id = t.department_id
	LEFT JOIN teams tm ON tm.id = t.team_id
	LEFT JOIN agents a ON a.id = t.assignee_id
	LEFT JOIN sla_plans p ON p.id = t.sla_plan_id`

func scanTicket(row pgx.Row) (*Ticket, error) {
	var t Ticket
	var aName, aEmail *string
	err := row.Scan(&t.ID, &t.Number, &t.Subject, &t.Status, &t.Priority, &t.Customer.Name, &t.Customer.Email, &t.customerID,
		&t.HelpTopic, &t.Department, &t.Team, &t.teamID, &t.departmentID, &aName, &aEmail, &t.assigneeID,
		&t.SLAPlan, &t.slaID, &t.FirstResponseDue, &t.ResolutionDue, &t.FirstRespondedAt, &t.Overdue, &t.SLAState, &t.NextEscalationAt,
		&t.CreatedAt, &t.UpdatedAt, &t.ResolvedAt, &t.ClosedAt, &t.RootMessageID, &t.Collaborators, &t.Spam,
		&t.MergedInto, &t.Mailbox, &t.Linked)
	if err != nil {
		return nil, err
	}
	if aEmail != nil {
		t.Assignee = &Address{Name: *aName, Email: *aEmail}
	}
	return &t, nil
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// ticketByNumber loads a ticket; it returns nil, nil when there is none. With
// lock it holds the row until the transaction ends, so concurrent changes to
// one ticket queue up rather than interleave.
func ticketByNumber(ctx context.Context, q querier, number int64, lock bool) (*Ticket, error) {
	sql := `SELECT ` + ticketColumns + ticketJoins + ` WHERE t.number = $1`
	if lock {
		sql += ` FOR UPDATE OF t`
	}
	t, err := scanTicket(q.QueryRow(ctx, sql, number))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load ticket %d: %w", number, err)
	}
	return t, nil
}

// ticketByID loads a ticket that must exist, by its row id.
func ticketByID(ctx context.Context, q querier, id int64) (*Ticket, error) {
	t, err := scanTicket(q.QueryRow(ctx, `SELECT `+ticketColumns+ticketJoins+` WHERE t.id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("load ticket id %d: %w", id, err)
	}
	return t, nil
}

// TicketFilter selects tickets for ListTickets. Zero fields match everything.
type TicketFilter struct {
	Status   Status
	Overdue  bool
	Assignee string // agent email or name
	Team     string
	Customer string // customer email
	Since    time.Time
	// After pages: only tickets numbered below it (the last of the page before).
	After int64
	Limit int
}

// ListTickets returns the tickets matching f, newest first. Names are
// resolved to ids first, and only the filters given reach the query, so
// each is served by its index whatever the number of tickets.
func (s *Store) ListTickets(ctx context.Context, f TicketFilter) ([]Ticket, error) {
	where, args, ok, err := s.ticketListWhere(ctx, f)
	if err != nil || !ok {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+ticketColumns+ticketJoins+where, args...)
	if err != nil {
		return nil, fmt.Errorf("list tickets: %w", err)
	}
	defer rows.Close()
	var out []Ticket
	for rows.Next() {
		t, err := scanTicket(rows)
		if err != nil {
			return nil, fmt.Errorf("scan ticket: %w", err)
		}
		out = append(out, *t)
	}
	return out, rows.Err()
}

// ticketListWhere builds the WHERE, ORDER and LIMIT of a ticket list; ok is
// false when a named agent, team or customer does not exist (no tickets).
func (s *Store) ticketListWhere(ctx context.Context, f TicketFilter) (string, []any, bool, error) {
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	var conds []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		conds = append(conds, fmt.Sprintf(cond, len(args)))
	}
	lookups := []struct {
		value, sql, col string
	}{
		{f.Assignee, `SELECT id FROM agents WHERE lower(email) = lower($1) OR lower(name) = lower($1)`, "t.assignee_id"},
		{f.Team, `SELECT id FROM teams WHERE lower(name) = lower($1)`, "t.team_id"},
		{f.Customer, `SELECT id FROM customers WHERE email = lower($1)`, "t.customer_id"},
	}
	for _, l := range lookups {
		if l.value == "" {
			continue
		}
		rows, err := s.pool.Query(ctx, l.sql, strings.TrimSpace(l.value))
		if err != nil {
			return "", nil, false, fmt.Errorf("list tickets: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return "", nil, false, fmt.Errorf("list tickets: %w", err)
		}
		if len(ids) == 0 {
			return "", nil, false, nil
		}
		add(l.col+" = ANY($%d)", ids)
	}
	if f.Status != "" {
		add("t.status = $%d", string(f.Status))
	}
	if f.Overdue {
		conds = append(conds, "t.overdue")
	}
	if !f.Since.IsZero() {
		add("t.created_at >= $%d", f.Since)
	}
	if f.After > 0 {
		add("t.number < $%d", f.After)
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	args = append(args, f.Limit)
	return where + fmt.Sprintf(" ORDER BY t.number DESC LIMIT $%d", len(args)), args, true, nil
}

// ShowTicket returns a ticket and its whole thread, oldest first.
func (s *Store) ShowTicket(ctx context.Context, number int64) (*Thread, error) {
	t, err := ticketByNumber(ctx, s.pool, number, false)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, fmt.Errorf("ticket %d: %w", number, ErrNotFound)
	}
	rows, err := s.pool.Query(ctx, `
		SELECT e.id, e.kind, e.event, coalesce(a.name, c.email, 'system'), e.body, e.data, e.created_at,
			coalesce((SELECT json_agg(json_build_object('filename', f.filename, 'content_type', f.content_type, 'size', f.size,
				'inline', f.inline) ORDER BY f.id) FROM attachments f WHERE f.message_ref = e.message_ref), '[]')
		FROM entries e
		LEFT JOIN agents a ON a.id = e.agent_id
		LEFT JOIN customers c ON c.id = e.customer_id
		WHERE e.ticket_id = $1 ORDER BY e.id`, t.ID)
	if err != nil {
		return nil, fmt.Errorf("load thread %d: %w", number, err)
	}
	entries, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entry, error) {
		var e Entry
		var data, files []byte
		if err := r.Scan(&e.ID, &e.Kind, &e.Event, &e.Author, &e.Body, &data, &e.CreatedAt, &files); err != nil {
			return e, err
		}
		if err := json.Unmarshal(files, &e.Attachments); err != nil {
			return e, err
		}
		if err := json.Unmarshal(data, &e.Data); err != nil {
			return e, err
		}
		if len(e.Data) == 0 {
			e.Data = nil
		}
		return e, nil
	})
	if err != nil {
		return nil, fmt.Errorf("load thread %d: %w", number, err)
	}
	return &Thread{Ticket: *t, Entries: entries}, nil
}

// entry is a thread entry about to be written.
type entry struct {
	kind       EntryKind
	event      string
	customerID int64
	agentID    int64
	body       string
	data       map[string]any
	messageRef int64
}

func addEntry(ctx context.Context, tx pgx.Tx, ticketID int64, e entry, now time.Time) error {
	data := e.data
	if data == nil {
		data = map[string]any{}
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO entries (ticket_id, kind, event, customer_id, agent_id, body, data, message_ref, created_at)
		VALUES ($1, $2, $3, nullif($4, 0::bigint), nullif($5, 0::bigint), $6, $7, nullif($8, 0::bigint), $9)`,
		ticketID, string(e.kind), e.event, e.customerID, e.agentID, e.body, data, e.messageRef, now)
	if err != nil {
		return fmt.Errorf("add %s entry: %w", e.kind, err)
	}
	return nil
}

// actor is who performs a change: an agent, or the system when zero.
type actor struct {
	agentID int64
	name    string
}

// setStatus changes a ticket's status and writes the event.
func (s *Store) setStatus(ctx context.Context, tx pgx.Tx, t *Ticket, to Status, by actor, now time.Time) error {
	from := t.Status
	if from == to {
		return nil
	}
	_, err := tx.Exec(ctx, `
		UPDATE tickets SET status = $2, updated_at = $3,
			resolved_at = CASE WHEN $2 = 'resolved' THEN $3 WHEN $2 IN ('open', 'pending') THEN NULL ELSE resolved_at END,
			closed_at = CASE WHEN $2 = 'closed' THEN $3 WHEN $2 IN ('open', 'pending') THEN NULL ELSE closed_at END
		WHERE id = $1`, t.ID, string(to), now)
	if err != nil {
		return fmt.Errorf("set status of %d: %w", t.Number, err)
	}
	event := EventStatus
	switch {
	case to == StatusResolved:
		event = EventResolved
	case to == StatusClosed:
		event = EventClosed
	case from == StatusResolved || from == StatusClosed:
		event = EventReopened
	}
	t.Status = to
	if err := addEntry(ctx, tx, t.ID, entry{kind: EntryEvent, event: event, agentID: by.agentID,
		data: map[string]any{"from": string(from), "to": string(to)}}, now); err != nil {
		return err
	}
	return s.resetSLA(ctx, tx, t.ID, now)
}
