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
		emails = append(emails, o.msg.From.Email)
		if perDomain > 0 {
			domains = append(domains, domainOf(o.msg.From.Email))
		}
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
// and (when domains are given) by the address's domain. The counting is
// PostgreSQL's: a row per address or domain comes back, not one per ticket,
// which at a busy desk's hour would be thousands per batch.
func recentTicketCounts(ctx context.Context, tx pgx.Tx, emails, domains []string, since time.Time) (bySender, byDomain map[string]int, err error) {
	bySender, err = countRecent(ctx, tx, `
		SELECT c.email, count(*) FROM customers c JOIN tickets t ON t.customer_id = c.id
		WHERE c.email = ANY($1) AND t.created_at > $2 GROUP BY 1`, emails, since)
	if err != nil || len(domains) == 0 {
		return bySender, map[string]int{}, err
	}
	byDomain, err = countRecent(ctx, tx, `
		SELECT split_part(c.email, '@', 2), count(*) FROM tickets t JOIN customers c ON c.id = t.customer_id
		WHERE t.created_at > $2 AND split_part(c.email, '@', 2) = ANY($1) GROUP BY 1`, domains, since)
	return bySender, byDomain, err
}

func countRecent(ctx context.Context, tx pgx.Tx, query string, keys []string, since time.Time) (map[string]int, error) {
	counts := map[string]int{}
	rows, err := tx.Query(ctx, query, keys, since)
	if err != nil {
		return nil, fmt.Errorf("count recent tickets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		var n int
		if err := rows.Scan(&key, &n); err != nil {
			return nil, fmt.Errorf("count recent tickets: %w", err)
		}
		counts[key] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count recent tickets: %w", err)
	}
	return counts, nil
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
