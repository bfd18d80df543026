package mailout

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"helpdesk/core"
)

// Sender drains the outbox: it claims due mails, sends them over a small pool
// of SMTP connections and records the outcome of each.
type Sender struct {
	Store     *core.Store
	Templates *Templates
	SMTP      SMTPConfig
	From      core.Address  // the desk's address
	Conns     int           // SMTP connections in parallel; default 4
	Interval  time.Duration // how often to look for due mail besides wake-ups; default 5s
	Lifetime  time.Duration // give up on a mail this old; default 48h
	DKIM      *DKIM         // sign with this key, if set
	// Lease is how long a claimed mail stays invisible to other senders
	// (default 3m). It must outlast the slowest send (dial, TLS, auth and
	// DATA timeouts); a sender that crashes holding mail delays it by this
	// much, then it goes out again with the same Message-ID.
	Lease time.Duration
	Log   *slog.Logger
	Now   func() time.Time

	sent, retried, failed atomic.Int64
}

// Results counts this sender's attempts by result: sent, retried, failed.
func (s *Sender) Results() (sent, retried, failed int64) {
	return s.sent.Load(), s.retried.Load(), s.failed.Load()
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
			k := &conn{cfg: s.SMTP}
			defer k.close()
			for m := range work {
				s.deliver(k, m)
			}
		}()
	}
	defer wg.Wait()
	defer close(work)
	wake := s.Store.OutboxWakeups(ctx)
	for {
		n, err := s.step(ctx, work)
		if err != nil && ctx.Err() == nil {
			s.Log.Error("outbox", "err", err)
		}
		if n > 0 && err == nil {
			continue // more may be due right away
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-time.After(s.Interval):
		}
	}
}

// step claims one batch and hands it to the workers; it returns how many it claimed.
func (s *Sender) step(ctx context.Context, work chan<- core.OutMail) (int, error) {
	mails, err := s.Store.ClaimOutbox(ctx, 8*s.Conns, s.Lease, s.Now())
	if err != nil {
		return 0, err
	}
	for i, m := range mails {
		select {
		case work <- m:
		case <-ctx.Done():
			// Put back what we claimed but will not send now.
			for _, rest := range mails[i:] {
				s.Store.RetryLater(context.WithoutCancel(ctx), rest.ID, s.Now(), "shutdown")
			}
			return i, nil
		}
	}
	return len(mails), nil
}

// deliver sends one mail and records the result. It uses a fresh context so
// the outcome is recorded even during shutdown.
func (s *Sender) deliver(k *conn, m core.OutMail) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log := s.Log.With("outbox", m.ID, "template", m.Template, "to", m.Recipient, "message_id", m.MessageID)
	err := s.send(k, m)
	now := s.Now()
	switch {
	case err == nil:
		s.sent.Add(1)
		if err := s.Store.MarkSent(ctx, m.ID, now); err != nil {
			log.Error("record sent mail", "err", err)
			return
		}
		log.Info("sent")
	case permanent(err) || now.Sub(m.CreatedAt) > s.Lifetime:
		log.Warn("giving up", "err", err, "attempts", m.Attempts)
		s.failed.Add(1)
		if err := s.Store.GiveUp(ctx, m.ID, err.Error(), badAddress(err), now); err != nil {
			log.Error("record failed mail", "err", err)
		}
	default:
		next := now.Add(backoff(m.Attempts))
		log.Info("will retry", "err", err, "attempts", m.Attempts, "next", next)
		s.retried.Add(1)
		if err := s.Store.RetryLater(ctx, m.ID, next, err.Error()); err != nil {
			log.Error("reschedule mail", "err", err)
		}
	}
}

func (s *Sender) send(k *conn, m core.OutMail) error {
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

// backoff is the wait before attempt n+1: exponential from 30 s, capped at an
// hour, with ±25 % jitter so a burst of failures does not retry in lockstep.
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
