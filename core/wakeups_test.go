package core_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"helpdesk/core/coretest"
)

// When PostgreSQL drops the LISTEN connection (a restart, a failover, an
// administrator's pg_terminate_backend), the loss is logged, the listener
// comes back by itself, the sender is woken for what it may have missed,
// and later mail wakes it again at once.
func TestOutboxWakeupsSurviveBrokenListen(t *testing.T) {
	s := coretest.NewStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &lockedBuffer{}
	wake := s.OutboxWakeups(ctx, slog.New(slog.NewTextHandler(logs, nil)))

	const listener = `FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN helpdesk_outbox'`
	waitFor(t, "the listener to start", func() bool {
		return s.ExecForTest(ctx, `DO $$ BEGIN IF NOT EXISTS (SELECT 1 `+listener+`) THEN RAISE 'none'; END IF; END $$`) == nil
	})
	select { // nothing pending: the wakeup below must come from the reconnect
	case <-wake:
	default:
	}
	if err := s.ExecForTest(ctx, `SELECT pg_terminate_backend(pid) `+listener); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the loss to be logged", func() bool { return strings.Contains(logs.String(), "outbox notifications lost") })
	waitFor(t, "the listener to come back", func() bool { return strings.Contains(logs.String(), "outbox notifications restored") })
	receive(t, wake, "the catch-up wakeup after reconnecting")

	if err := s.ExecForTest(ctx, `SELECT pg_notify('helpdesk_outbox', '')`); err != nil {
		t.Fatal(err)
	}
	receive(t, wake, "a wakeup for mail queued after reconnecting")
}

func receive(t *testing.T, wake <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-wake:
	case <-time.After(10 * time.Second):
		t.Fatalf("did not receive %s", what)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// lockedBuffer is a log sink the listener goroutine and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
