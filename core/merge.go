package core

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Events of merging and linking.
const (
	EventMerged     = "merged"      // on the ticket another was folded into
	EventMergedInto = "merged_into" // on the ticket folded away
	EventLinked     = "linked"
)

// otherTicket reads a command's "#N" (or "[#N]", "N") argument and loads
// that ticket, locked.
func otherTicket(ctx context.Context, tx pgx.Tx, t *Ticket, c Command) (*Ticket, error) {
	arg, err := oneArg(c)
	if err != nil {
		return nil, err
	}
	n, err := strconv.ParseInt(strings.Trim(arg, "[]#"), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("/%s wants a ticket number such as #1042, not %q", c.Name, arg)
	}
	if n == t.Number {
		return nil, fmt.Errorf("/%s: ticket %s is this ticket", c.Name, SubjectTag(n))
	}
	other, err := ticketByNumber(ctx, tx, n, true)
	if err != nil {
		return nil, err
	}
	if other == nil {
		return nil, fmt.Errorf("/%s: there is no ticket %s", c.Name, SubjectTag(n))
	}
	if other.MergedInto != 0 {
		return nil, fmt.Errorf("/%s: ticket %s was merged into %s; use that one", c.Name, other.Tag(), SubjectTag(other.MergedInto))
	}
	return other, nil
}

// merge is /merge #N: this ticket is folded into #N. Its thread entries,
// stored mail, Message-IDs and collaborators move there (its customer too,
// as a collaborator when #N is someone else's); it is closed, pointing at
// #N, so replies to its old mail thread onto #N; one event on each; its
// customer is told once.
func (s *Store) merge(ctx context.Context, tx pgx.Tx, t *Ticket, by *staff, c Command, now time.Time) (string, error) {
	into, err := otherTicket(ctx, tx, t, c)
	if err != nil {
		return "", err
	}
	for _, sql := range []string{
		`UPDATE entries SET ticket_id = $2 WHERE ticket_id = $1`,
		`UPDATE messages SET ticket_id = $2 WHERE ticket_id = $1`,
		`UPDATE thread_ids SET ticket_id = $2 WHERE ticket_id = $1`,
		`INSERT INTO ticket_collaborators (ticket_id, customer_id)
			SELECT $2::bigint, customer_id FROM ticket_collaborators WHERE ticket_id = $1::bigint
			UNION SELECT $2::bigint, customer_id FROM tickets WHERE id = $1::bigint
			EXCEPT SELECT $2::bigint, customer_id FROM tickets WHERE id = $2::bigint
			ON CONFLICT DO NOTHING`,
		`UPDATE tickets SET merged_into = $2 WHERE id = $1`,
	} {
		if _, err := tx.Exec(ctx, sql, t.ID, into.ID); err != nil {
			return "", fmt.Errorf("merge %s into %s: %w", t.Tag(), into.Tag(), err)
		}
	}
	if err := addEntry(ctx, tx, into.ID, entry{kind: EntryEvent, event: EventMerged, agentID: by.id,
		data: map[string]any{"from": t.Number}}, now); err != nil {
		return "", err
	}
	if err := addEntry(ctx, tx, t.ID, entry{kind: EntryEvent, event: EventMergedInto, agentID: by.id,
		data: map[string]any{"into": into.Number}}, now); err != nil {
		return "", err
	}
	if err := s.setStatus(ctx, tx, t, StatusClosed, actor{agentID: by.id, name: by.name}, now); err != nil {
		return "", err
	}
	t.MergedInto = into.Number
	if err := s.queue(ctx, tx, now, outMail{ticket: t, template: TemplateMerged, to: t.Customer,
		data: MailData{Into: into.Number, IntoSubject: into.Subject}}); err != nil {
		return "", err
	}
	return "merged into " + into.Tag(), nil
}

// link is /link #N: the two tickets are related, both ways.
func (s *Store) link(ctx context.Context, tx pgx.Tx, t *Ticket, by *staff, c Command, now time.Time) (string, error) {
	other, err := otherTicket(ctx, tx, t, c)
	if err != nil {
		return "", err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO ticket_links (ticket_id, linked_id) VALUES ($1, $2), ($2, $1) ON CONFLICT DO NOTHING`,
		t.ID, other.ID); err != nil {
		return "", fmt.Errorf("link %s and %s: %w", t.Tag(), other.Tag(), err)
	}
	for _, e := range []struct {
		on   int64
		with int64
	}{{t.ID, other.Number}, {other.ID, t.Number}} {
		if err := addEntry(ctx, tx, e.on, entry{kind: EntryEvent, event: EventLinked, agentID: by.id,
			data: map[string]any{"ticket": e.with}}, now); err != nil {
			return "", err
		}
	}
	return "linked to " + other.Tag(), nil
}
