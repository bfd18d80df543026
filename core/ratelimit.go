package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// rateWindow is the window of the per-sender and per-domain limits.
const rateWindow = time.Hour

// splitOverLimit sorts new tickets into those within the per-sender and
// per-domain limits of new tickets per hour and the excess, in order.
func (s *Store) splitOverLimit(ctx context.Context, tx pgx.Tx, list []opening, now time.Time) (allowed, excess []opening, err error) {
	perSender, perDomain := s.budget.TicketsPerSender, s.budget.TicketsPerDomain
	if perSender <= 0 && perDomain <= 0 {
		return list, nil, nil
	}
	var emails, domains []string
	for _, o := range list {
		emails, domains = append(emails, o.msg.From.Email), append(domains, domainOf(o.msg.From.Email))
	}
	bySender, byDomain, err := recentTicketCounts(ctx, tx, emails, domains, now.Add(-rateWindow))
	if err != nil {
		return nil, nil, err
	}
	for _, o := range list {
		e, d := o.msg.From.Email, domainOf(o.msg.From.Email)
		if (perSender > 0 && bySender[e] >= perSender) || (perDomain > 0 && byDomain[d] >= perDomain) {
			excess = append(excess, o)
			continue
		}
		bySender[e]++
		byDomain[d]++
		allowed = append(allowed, o)
	}
	return allowed, excess, nil
}

func domainOf(email string) string {
	_, d, _ := strings.Cut(email, "@")
	return d
}

// recentTicketCounts counts the tickets opened since, by customer address
// and by the address's domain.
func recentTicketCounts(ctx context.Context, tx pgx.Tx, emails, domains []string, since time.Time) (bySender, byDomain map[string]int, err error) {
	bySender, byDomain = map[string]int{}, map[string]int{}
	rows, err := tx.Query(ctx, `
		SELECT c.email, split_part(c.email, '@', 2) FROM tickets t JOIN customers c ON c.id = t.customer_id
		WHERE t.created_at > $3 AND (c.email = ANY($1) OR split_part(c.email, '@', 2) = ANY($2))`, emails, domains, since)
	if err != nil {
		return nil, nil, fmt.Errorf("count recent tickets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e, d string
		if err := rows.Scan(&e, &d); err != nil {
			return nil, nil, fmt.Errorf("count recent tickets: %w", err)
		}
		bySender[e]++
		byDomain[d]++
	}
	return bySender, byDomain, rows.Err()
}

// groupExcess puts each message over a limit on the latest ticket of its
// sender (else of its domain) instead of a new one: kept, answered by
// nobody, and the admins told at most once an hour per sender.
func (s *Store) groupExcess(ctx context.Context, tx pgx.Tx, excess []opening, now time.Time) error {
	for _, o := range excess {
		t, err := latestTicketOf(ctx, tx, o.msg.From.Email, now.Add(-rateWindow))
		if err != nil {
			return err
		}
		quiet := *o.msg
		quiet.Quiet = true
		if err := s.appendCustomerMessage(ctx, tx, t, &quiet, o.ref, now, "rate limit", o.result); err != nil {
			return err
		}
		o.result.Action = "over the new-ticket limit: grouped on the sender's latest ticket"
		if err := addEntry(ctx, tx, t.ID, entry{kind: EntryEvent, event: EventRateLimited,
			data: map[string]any{"from": o.msg.From.Email, "per_sender": s.budget.TicketsPerSender, "per_domain": s.budget.TicketsPerDomain}}, now); err != nil {
			return err
		}
		admins, err := agentsWhere(ctx, tx, `a.role = 'admin'`)
		if err != nil {
			return err
		}
		if err := s.queueDigest(ctx, tx, now, admins, digestMail{key: "limit:" + o.msg.From.Email, template: TemplateRateLimited, ticket: t,
			data: MailData{Sender: o.msg.From.Display(), PerSender: s.budget.TicketsPerSender, PerDomain: s.budget.TicketsPerDomain},
			item: o.msg.Subject, period: rateWindow}); err != nil {
			return err
		}
	}
	return nil
}

// latestTicketOf is the latest ticket opened since by email, or else by its
// domain (one exists: the limit was reached counting them).
func latestTicketOf(ctx context.Context, tx pgx.Tx, email string, since time.Time) (*Ticket, error) {
	var number int64
	err := tx.QueryRow(ctx, `SELECT t.number FROM tickets t JOIN customers c ON c.id = t.customer_id
		WHERE t.created_at > $3 AND (c.email = $1 OR split_part(c.email, '@', 2) = $2)
		ORDER BY (c.email = $1) DESC, t.id DESC LIMIT 1`, email, domainOf(email), since).Scan(&number)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("no recent ticket of %s to group onto", email)
	}
	if err != nil {
		return nil, fmt.Errorf("latest ticket of %s: %w", email, err)
	}
	return ticketByNumber(ctx, tx, number, true)
}
