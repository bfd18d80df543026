package core

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ExecForTest runs raw SQL; tests use it to set up states no method makes.
func (s *Store) ExecForTest(ctx context.Context, sql string, args ...any) error {
	_, err := s.pool.Exec(ctx, sql, args...)
	return err
}

// ListTicketsPlan is EXPLAIN of the query ListTickets runs for f.
func (s *Store) ListTicketsPlan(ctx context.Context, f TicketFilter) (string, error) {
	where, args, ok, err := s.ticketListWhere(ctx, f)
	if err != nil || !ok {
		return "", err
	}
	rows, err := s.pool.Query(ctx, `EXPLAIN SELECT `+ticketColumns+ticketJoins+where, args...)
	if err != nil {
		return "", err
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return strings.Join(lines, "\n"), err
}

// ReportPlan is EXPLAIN of the query that finds a report's tickets.
func (s *Store) ReportPlan(ctx context.Context, o ReportOptions) (string, error) {
	rows, err := s.pool.Query(ctx, `EXPLAIN `+reportTicketsQuery, o.From, o.To)
	if err != nil {
		return "", err
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return strings.Join(lines, "\n"), err
}
