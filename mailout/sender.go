package mailout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"helpdesk/core"
)

// Sender drains the outbox: it claims due mails, sends them over a small pool
// of SMTP connections and records the outcome of each.
//
// Two kinds of trouble stop it as a whole rather than mail by mail. When the
// SMTP server cannot be reached (refused, TLS or AUTH failing, gone mid
// conversation), nothing is wrong with the mail: the sender pauses, probes
// the server with one connection, and when the probe succeeds everything
// waiting goes at once; such failures never count toward a mail's lifetime.
// When the database cannot be reached, results cannot be recorded: the
// sender stops claiming and sending, and retries recording what it sent
// while its claim holds, so a database restart resends nothing.
type Sender struct {
	Store     *core.Store
	Templates *Templates
	SMTP      SMTPConfig
	From      core.Address  // the desk's address
	Conns     int           // SMTP connections in parallel; default 4
	Interval  time.Duration // how often to look for due mail besides wake-ups; default 5s
	// Lifetime: a mail the peer keeps deferring (4xx) is given up this long
	// after the first deferral; default 48h.
	Lifetime time.Duration
	// OutageAlert: after the server has been unreachable this long the
	// admins are alerted once (when it comes back, since the alert is mail
	// too) and Unreachable reports it; default 10m.
	OutageAlert time.Duration
	DKIM        *DKIM // sign with this key, if set
	// Lease is how long a claimed mail stays invisible to other senders
	// (default 3m). It must outlast the slowest send (dial, TLS, auth and
	// DATA timeouts); a sender that crashes holding mail delays it by this
	// much, then it goes out again with the same Message-ID.
	Lease time.Duration
	Log   *slog.Logger
	Now   func() time.Time

	sent, retried, failed atomic.Int64
	outageSince           atomic.Int64 // unix nanoseconds; 0 while the server answers
	outageReason          atomic.Value // string
	dbDown                atomic.Bool
}

// Results counts this sender's attempts by result: sent, retried, failed.
func (s *Sender) Results() (sent, retried, failed int64) {
	return s.sent.Load(), s.retried.Load(), s.failed.Load()
}

// Unreachable reports since when the SMTP server has been unreachable, and
// why; ok is false while it answers.
func (s *Sender) Unreachable() (since time.Time, reason string, ok bool) {
	n := s.outageSince.Load()
	if n == 0 {
		return time.Time{}, "", false
	}
	reason, _ = s.outageReason.Load().(string)
	return time.Unix(0, n), reason, true
}

func (s *Sender) defaults() {
	if s.Conns <= 0 {
		s.Conns = 4
	}
	if s.Interval <= 0 {
		// New mail wakes the sender at once (LISTEN/NOTIFY); the timer is
		// for retries coming due and lost notifications.
		s.Interval = 5 * time.Second
	}
	if s.Lease <= 0 {
		s.Lease = 3 * time.Minute
	}
	if s.Lifetime <= 0 {
		s.Lifetime = 48 * time.Hour
	}
	if s.OutageAlert <= 0 {
		s.OutageAlert = 10 * time.Minute
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
}

// Run sends until ctx is cancelled. A mail being sent when ctx ends is
// finished and recorded first, so a clean shutdown never resends it.
func (s *Sender) Run(ctx context.Context) error {
	s.defaults()
	work := make(chan core.OutMail)
	var wg sync.WaitGroup
	for i := 0; i < s.Conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := &conn{ctx: ctx, cfg: s.SMTP}
			defer k.close()
			for m := range work {
				s.deliver(k, m)
			}
		}()
	}
	defer wg.Wait()
	defer close(work)
	wake := s.Store.OutboxWakeups(ctx, s.Log)
	pause := newBackoff(time.Second, 10*time.Second)
	for ctx.Err() == nil {
		if !s.ready(ctx) {
			sleep(ctx, pause.next())
			continue
		}
		pause.reset()
		n, err := s.step(ctx, work)
		if err != nil && ctx.Err() == nil {
			s.Log.Error("outbox", "err", err)
		}
		if n > 0 && err == nil {
			continue // more may be due right away
		}
		select {
		case <-ctx.Done():
		case <-wake:
		case <-time.After(s.Interval):
		}
	}
	return nil
}

// ready reports whether the sender may claim mail: the database answers and
// the SMTP server accepts a connection (probed while it did not).
func (s *Sender) ready(ctx context.Context) bool {
	if s.dbDown.Load() {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok := s.waitForDatabase(pctx)
		cancel()
		if !ok {
			return false
		}
	}
	if _, _, down := s.Unreachable(); down {
		k := &conn{ctx: ctx, cfg: s.SMTP}
		err := k.dial()
		k.close()
		if err != nil {
			s.connectionFailed(ctx, err)
			return false
		}
		s.recovered(ctx)
	}
	return true
}

// step claims one batch and hands it to the workers; it returns how many it
// claimed. A batch is a few mails per connection, so a crash strands few.
func (s *Sender) step(ctx context.Context, work chan<- core.OutMail) (int, error) {
	mails, err := s.Store.ClaimOutbox(ctx, 2*s.Conns, s.Lease, s.Now())
	if err != nil {
		s.noteStoreError(err)
		return 0, err
	}
	for i, m := range mails {
		select {
		case work <- m:
		case <-ctx.Done():
			// Put back what we claimed but will not send now.
			for _, rest := range mails[i:] {
				s.Store.RetryLater(context.WithoutCancel(ctx), rest, s.Now(), "shutdown", false, s.Now())
			}
			return i, nil
		}
	}
	return len(mails), nil
}

// deliver sends one mail and records the result. It uses a fresh context so
// the outcome is recorded even during shutdown.
func (s *Sender) deliver(k *conn, m core.OutMail) {
	ctx, cancel := context.WithDeadline(context.Background(), m.LeaseUntil)
	defer cancel()
	log := s.Log.With("outbox", m.ID, "template", m.Template, "to", m.Recipient, "message_id", m.MessageID)
	// Nothing is sent while its result could not be recorded; the claim
	// is kept meanwhile, so the mail goes as soon as the database is back.
	if !s.waitForDatabase(ctx) {
		return // the lease ran out: the mail comes back to a sender
	}
	if _, _, down := s.Unreachable(); down || !s.Now().Before(m.LeaseUntil.Add(-s.sendTimeout())) {
		// Paused for the SMTP server, or the claim would run out mid-send:
		// put the mail back, due now.
		s.record(ctx, log, "put back", func() error { return s.Store.RetryLater(ctx, m, s.Now(), "paused", false, s.Now()) })
		return
	}
	err := s.send(k, m)
	now := s.Now()
	switch {
	case err == nil:
		s.sent.Add(1)
		// Sent: recording it must survive a database restart, or the mail
		// goes out again after the lease.
		if s.record(ctx, log, "record sent mail", func() error { return s.Store.MarkSent(ctx, m, s.Now()) }) {
			log.Info("sent")
		}
	case connectionLevel(err):
		s.connectionFailed(ctx, err)
		s.retried.Add(1)
		s.record(ctx, log, "put back", func() error { return s.Store.RetryLater(ctx, m, now, err.Error(), false, now) })
	case permanent(err) || (m.DeferredSince != nil && now.Sub(*m.DeferredSince) > s.Lifetime):
		log.Warn("giving up", "err", err, "attempts", m.Attempts)
		s.failed.Add(1)
		s.record(ctx, log, "record failed mail", func() error { return s.Store.GiveUp(ctx, m, err.Error(), badAddress(err), now) })
	default:
		next := now.Add(backoff(m.Attempts))
		log.Info("will retry", "err", err, "attempts", m.Attempts, "next", next)
		s.retried.Add(1)
		s.record(ctx, log, "reschedule mail", func() error { return s.Store.RetryLater(ctx, m, next, err.Error(), true, now) })
	}
}

// record runs a store update, retrying while the database is unreachable
// and the claim holds (ctx ends with the lease). It reports success.
func (s *Sender) record(ctx context.Context, log *slog.Logger, what string, update func() error) bool {
	wait := newBackoff(200*time.Millisecond, 5*time.Second)
	for {
		err := update()
		if err == nil {
			return true
		}
		if !isTemporary(err) || ctx.Err() != nil {
			log.Error(what, "err", err)
			return false
		}
		s.noteStoreError(err)
		if !sleep(ctx, wait.next()) {
			log.Error(what+": the claim ran out while the database was unreachable", "err", err)
			return false
		}
	}
}

// noteStoreError stops claiming and sending while the database is unreachable.
func (s *Sender) noteStoreError(err error) {
	if isTemporary(err) && !s.dbDown.Swap(true) {
		s.Log.Warn("database unreachable: sending paused", "err", err)
	}
}

// waitForDatabase returns at once while the database answers; after a
// failure it pings until it does (true) or ctx ends (false).
func (s *Sender) waitForDatabase(ctx context.Context) bool {
	wait := newBackoff(200*time.Millisecond, 5*time.Second)
	for s.dbDown.Load() {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := s.Store.Ping(pctx)
		cancel()
		if err == nil {
			if s.dbDown.Swap(false) {
				s.Log.Info("database reachable again: sending resumes")
			}
			return true
		}
		if !sleep(ctx, wait.next()) {
			return false
		}
	}
	return true
}

// sendTimeout bounds one send (dial, TLS, auth, DATA): a mail is only sent
// while this much of its lease is left.
func (s *Sender) sendTimeout() time.Duration {
	t := s.SMTP.Timeout
	if t <= 0 {
		t = 30 * time.Second
	}
	return min(4*t, s.Lease/2)
}

// connectionFailed pauses the sender; after OutageAlert the admins are
// alerted, once across daemons.
func (s *Sender) connectionFailed(ctx context.Context, err error) {
	now := s.Now()
	s.outageReason.Store(err.Error())
	if s.outageSince.CompareAndSwap(0, now.UnixNano()) {
		s.Log.Warn("smtp server unreachable: sending paused", "server", s.SMTP.Addr, "err", err)
	}
	since, _, _ := s.Unreachable()
	if now.Sub(since) >= s.OutageAlert {
		if _, aerr := s.Store.AlertSMTPOutage(ctx, s.SMTP.Addr, false, since, err.Error(), now); aerr != nil {
			s.noteStoreError(aerr)
		}
	}
}

// recovered resumes sending after an outage.
func (s *Sender) recovered(ctx context.Context) {
	since, _, _ := s.Unreachable()
	s.outageSince.Store(0)
	now := s.Now()
	s.Log.Info("smtp server reachable again: sending resumes", "server", s.SMTP.Addr, "down_for", now.Sub(since).Round(time.Second))
	if _, err := s.Store.AlertSMTPOutage(ctx, s.SMTP.Addr, true, now, "", now); err != nil {
		s.noteStoreError(err)
	}
}

func (s *Sender) send(k *conn, m core.OutMail) error {
	if m.Unreadable != nil {
		return &permanentError{m.Unreadable}
	}
	r, err := s.Templates.Render(m.Template, m.Data)
	if err != nil {
		return &permanentError{err}
	}
	msg, env, err := Build(m, r, s.From, s.Store.Domain(), s.Now())
	if err != nil {
		return &permanentError{err}
	}
	if s.DKIM != nil {
		if msg, err = s.DKIM.Sign(msg); err != nil {
			return &permanentError{err}
		}
	}
	if err := k.send(env.From, env.To, msg); err != nil {
		return fmt.Errorf("send to %s: %w", m.Recipient, err)
	}
	return nil
}

// connectionLevel reports a failure of the connection rather than an
// answer about the mail: the server unreachable, TLS or AUTH failing, the
// conversation cut. A 4xx or 5xx reply to the mail itself is not one.
func connectionLevel(err error) bool {
	var setup *setupError
	if errors.As(err, &setup) {
		return true
	}
	var smtpErr *smtp.SMTPError
	var p *permanentError
	return !errors.As(err, &smtpErr) && !errors.As(err, &p)
}

// backoff is the wait before attempt n+1 after a peer deferred the mail:
// exponential from 30 s, capped at an hour, with ±25 % jitter so a burst of
// deferrals does not retry in lockstep.
func backoff(attempts int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < attempts && d < time.Hour; i++ {
		d *= 2
	}
	if d > time.Hour {
		d = time.Hour
	}
	return time.Duration(float64(d) * (0.75 + rand.Float64()/2))
}

// pauseBackoff is a doubling wait between probes, reset on success.
type pauseBackoff struct{ cur, min, max time.Duration }

func newBackoff(min, max time.Duration) *pauseBackoff { return &pauseBackoff{min: min, max: max} }

func (b *pauseBackoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return time.Duration(float64(b.cur) * (0.75 + rand.Float64()/2))
}

func (b *pauseBackoff) reset() { b.cur = 0 }

// sleep waits d or until ctx ends; it reports whether the whole wait passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// isTemporary reports an error worth retrying, such as the database away.
func isTemporary(err error) bool {
	var temp interface{ Temporary() bool }
	return errors.As(err, &temp) && temp.Temporary()
}
