package core

import (
	"context"
	"fmt"
)

// LockMailbox tries to become the one poller of a mailbox among all daemons
// sharing this database. It holds a PostgreSQL session-level advisory lock on
// a dedicated connection: if this process dies, its connection drops, the lock
// goes with it and another daemon takes over. release must be called.
func (s *Store) LockMailbox(ctx context.Context, mailbox string) (release func(), ok bool, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, &TemporaryError{fmt.Errorf("acquire connection: %w", err)}
	}
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtext('helpdesk.mailbox'), hashtext($1))`, mailbox).Scan(&ok); err != nil {
		conn.Release()
		return nil, false, fmt.Errorf("lock mailbox %s: %w", mailbox, err)
	}
	if !ok {
		conn.Release()
		return func() {}, false, nil
	}
	return func() {
		// Unlock on a fresh context: the caller's may be cancelled already.
		if _, err := conn.Exec(context.Background(), `SELECT pg_advisory_unlock(hashtext('helpdesk.mailbox'), hashtext($1))`, mailbox); err != nil {
			// The connection is suspect; destroy it so the lock cannot linger.
			conn.Conn().Close(context.Background())
		}
		conn.Release()
	}, true, nil
}
