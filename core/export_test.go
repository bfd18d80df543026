package core

import "context"

// ExecForTest runs raw SQL; tests use it to set up states no method makes.
func (s *Store) ExecForTest(ctx context.Context, sql string, args ...any) error {
	_, err := s.pool.Exec(ctx, sql, args...)
	return err
}
