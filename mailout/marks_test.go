package mailout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"helpdesk/core"
	"helpdesk/core/coretest"
)

// claimFive queues mail for three new tickets and claims five of it.
func claimFive(t *testing.T, s *core.Store, now time.Time) []core.OutMail {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := coretest.Ingest(ctx, s, &core.Inbound{Mailbox: "support", MessageID: fmt.Sprintf("m%d@customer.test", i),
			Class: core.ClassHuman, From: core.Address{Email: fmt.Sprintf("c%d@customer.test", i)}, Subject: "Help", Text: "x",
			Raw: []byte("x")}, now); err != nil {
			t.Fatal(err)
		}
	}
	mails, err := s.ClaimOutbox(ctx, 5, time.Minute, now)
	if err != nil || len(mails) != 5 {
		t.Fatalf("claimed %d mails (%v), want 5", len(mails), err)
	}
	return mails
}

// syncBuffer is a log destination the marks and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
func (w *syncBuffer) String() string { w.mu.Lock(); defer w.mu.Unlock(); return w.b.String() }

// TestSentMarksGroupWhileAnUpdateRuns: marks that arrive while one UPDATE
// runs are recorded together in the next one, each under its own claim: a
// mail whose claim was lost is logged and left, its group-mates recorded.
func TestSentMarksGroupWhileAnUpdateRuns(t *testing.T) {
	ctx := context.Background()
	s := coretest.SeededStore(t)
	now := time.Now()
	mails := claimFive(t, s, now)
	mails[3].Claim++ // another sender's claim now

	var sm *sentMarks
	var mu sync.Mutex
	var groups []int
	firstStarted, fourWaiting := make(chan struct{}), make(chan struct{})
	markAll := func(ctx context.Context, group []core.OutMail, at time.Time) []error {
		mu.Lock()
		groups = append(groups, len(group))
		first := len(groups) == 1
		mu.Unlock()
		if first { // hold the first UPDATE until the other four wait
			close(firstStarted)
			<-fourWaiting
		}
		return s.MarkAllSent(ctx, group, at)
	}
	sm = newSentMarks(markAll, time.Now, func(error) { t.Error("no store error expected") }, 5)
	go sm.run()
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))

	sm.mark(mails[0], log.With("mail", 0))
	<-firstStarted
	for i := 1; i < 5; i++ {
		sm.mark(mails[i], log.With("mail", i)) // the queue holds one per worker: none blocks
	}
	if len(sm.marks) != 4 {
		t.Fatalf("%d marks waiting, want 4", len(sm.marks))
	}
	close(fourWaiting)
	sm.stop()

	if fmt.Sprint(groups) != "[1 4]" {
		t.Errorf("UPDATE groups %v, want [1 4]", groups)
	}
	if got := strings.Count(logs.String(), "msg=sent"); got != 4 {
		t.Errorf("%d mails logged sent, want 4:\n%s", got, logs.String())
	}
	if !strings.Contains(logs.String(), `level=ERROR msg="record sent mail" mail=3`) || !strings.Contains(logs.String(), "claim lost") {
		t.Errorf("the mail with the lost claim is not logged as such:\n%s", logs.String())
	}
	// The recorded mails are sent: marking them again finds no pending row.
	for i, m := range mails {
		if err := s.MarkSent(ctx, m, now); i != 3 && !errors.Is(err, core.ErrClaimLost) {
			t.Errorf("mail %d was not recorded as sent: marking again gave %v", i, err)
		}
	}
	mails[3].Claim--
	if err := s.MarkSent(ctx, mails[3], now); err != nil {
		t.Errorf("the mail with the lost claim was recorded anyway: %v", err)
	}
}

// TestSentMarksRetryWhileTheDatabaseIsAway: a mark that fails because the
// database is away tells the sender (so it stops sending) and is recorded
// when the database answers again, within the lease.
func TestSentMarksRetryWhileTheDatabaseIsAway(t *testing.T) {
	ctx := context.Background()
	s := coretest.SeededStore(t)
	mails := claimFive(t, s, time.Now())
	calls := 0
	markAll := func(ctx context.Context, group []core.OutMail, at time.Time) []error {
		if calls++; calls <= 2 {
			errs := make([]error, len(group))
			for i := range errs {
				errs[i] = &core.TemporaryError{Err: errors.New("connection refused")}
			}
			return errs
		}
		return s.MarkAllSent(ctx, group, at)
	}
	var told []error
	sm := newSentMarks(markAll, time.Now, func(err error) { told = append(told, err) }, 1)
	go sm.run()
	sm.mark(mails[0], slog.New(slog.NewTextHandler(&syncBuffer{}, nil)))
	sm.stop()
	if calls != 3 || len(told) != 2 {
		t.Errorf("%d UPDATEs and %d store errors told, want 3 and 2", calls, len(told))
	}
	if err := s.MarkSent(ctx, mails[0], time.Now()); !errors.Is(err, core.ErrClaimLost) {
		t.Errorf("the mark was not recorded after the database came back: marking again gave %v", err)
	}
}
