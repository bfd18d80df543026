package mailout

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"helpdesk/core"
)

// sentMarks records delivered mails in groups, as a database commits a
// group: the marks that arrive while one UPDATE runs go together in the
// next. Workers hand a mark over and go on to their next mail, so an SMTP
// connection never waits for PostgreSQL, and a round of sends costs one
// commit instead of one per mail.
//
// The time between the SMTP server's acceptance and the record, in which a
// crash would send the mail again, grows by at most the UPDATE already
// running; marks never wait for a group to fill. A mark that fails because
// the database is away is retried while its lease holds, as before.
type sentMarks struct {
	markAll func(context.Context, []core.OutMail, time.Time) []error // core.Store.MarkAllSent
	now     func() time.Time
	// storeError is told of every failed UPDATE, so the workers stop
	// sending while the database is away.
	storeError func(error)
	marks      chan sentMark
	done       chan struct{}
}

// sentMark is a mail the SMTP server accepted, with the logger that names it.
type sentMark struct {
	mail core.OutMail
	log  *slog.Logger
}

// newSentMarks queues one mark per worker: a worker whose mark finds the
// queue full waits, which holds sending back while recording lags.
func newSentMarks(markAll func(context.Context, []core.OutMail, time.Time) []error, now func() time.Time,
	storeError func(error), workers int) *sentMarks {
	return &sentMarks{markAll: markAll, now: now, storeError: storeError, marks: make(chan sentMark, workers), done: make(chan struct{})}
}

// mark queues a sent mail to be recorded.
func (sm *sentMarks) mark(m core.OutMail, log *slog.Logger) {
	sm.marks <- sentMark{mail: m, log: log}
}

// run records marks until stop; it ends after the workers, so a mail
// finished during shutdown is still recorded.
func (sm *sentMarks) run() {
	defer close(sm.done)
	for first := range sm.marks {
		group := []sentMark{first}
	gather:
		for {
			select {
			case m, ok := <-sm.marks:
				if !ok {
					break gather
				}
				group = append(group, m)
			default:
				break gather
			}
		}
		sm.record(group)
	}
}

// record runs one UPDATE for a group, then again for the marks that failed
// for a reason worth retrying (the database away), until each is recorded
// or its lease runs out.
func (sm *sentMarks) record(group []sentMark) {
	wait := newBackoff(200*time.Millisecond, 5*time.Second)
	for len(group) > 0 {
		mails, until := mailsOf(group)
		ctx, cancel := context.WithDeadline(context.Background(), until)
		errs := sm.markAll(ctx, mails, sm.now())
		cancel()
		var again []sentMark
		var failed error
		for i, err := range errs {
			m := group[i]
			switch {
			case err == nil:
				m.log.Info("sent")
			case isTemporary(err) && sm.now().Before(m.mail.LeaseUntil):
				again, failed = append(again, m), err
			case isTemporary(err):
				m.log.Error("record sent mail: the claim ran out while the database was unreachable", "err", err)
			default:
				m.log.Error("record sent mail", "err", err)
			}
		}
		if failed != nil {
			sm.storeError(failed)
			time.Sleep(wait.next())
		}
		group = again
	}
}

// mailsOf is the group's mails and the latest of their leases, which bounds
// the UPDATE: past it, no mail of the group could still be recorded.
func mailsOf(group []sentMark) ([]core.OutMail, time.Time) {
	mails := make([]core.OutMail, len(group))
	var until time.Time
	for i, g := range group {
		mails[i] = g.mail
		if g.mail.LeaseUntil.After(until) {
			until = g.mail.LeaseUntil
		}
	}
	return mails, until
}

// isTemporary reports an error worth retrying, such as the database away.
func isTemporary(err error) bool {
	var temp interface{ Temporary() bool }
	return errors.As(err, &temp) && temp.Temporary()
}

// stop ends run once the workers have stopped marking, after it has
// recorded every queued mark.
func (sm *sentMarks) stop() {
	close(sm.marks)
	<-sm.done
}
