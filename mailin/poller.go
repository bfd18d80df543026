package mailin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message/charset"

	"helpdesk/core"
	"helpdesk/core/mailauth"
)

// TLS modes for the IMAP connection.
const (
	TLSNone     = "none"
	TLSStartTLS = "starttls"
	TLSImplicit = "tls"
)

// Mailbox is one IMAP folder to take mail from.
type Mailbox struct {
	Name           string // our name for it, used in checkpoints and logs
	Addr           string // host:port
	TLS            string
	User, Password string
	Folder         string        // default INBOX
	PollInterval   time.Duration // without IDLE; also the IDLE safety net
	DefaultTopic   string
	MoveTo         string // optional folder for processed mail; cosmetic only
	// Tokens, when set, signs in with OAuth2 (XOAUTH2 or OAUTHBEARER)
	// instead of the password.
	Tokens             *mailauth.Tokens
	CAFile             string // a private CA for the server's certificate
	InsecureSkipVerify bool
}

// Poller reads one mailbox: IDLE where the server offers it, polling
// otherwise, reconnecting with jittered backoff. Its progress lives in
// PostgreSQL, so \Seen flags and other clients do not matter.
type Poller struct {
	Mailbox Mailbox
	Intake  *Intake
	Log     *slog.Logger
	// OnPoll, if set, is called after every poll attempt with its error.
	OnPoll func(mailbox string, err error)

	active atomic.Bool // holds the mailbox lock: this process is its poller
}

// Active reports whether this process is the mailbox's poller, as opposed to
// standing by while another daemon holds it.
func (p *Poller) Active() bool { return p.active.Load() }

// Run polls until ctx is cancelled.
func (p *Poller) Run(ctx context.Context) error {
	mb := p.Mailbox
	if mb.Folder == "" {
		mb.Folder = "INBOX"
	}
	if mb.PollInterval <= 0 {
		mb.PollInterval = time.Minute
	}
	p.Mailbox = mb
	log := p.log()
	delay := time.Second
	for ctx.Err() == nil {
		release, ok, err := p.Intake.Store.LockMailbox(ctx, mb.Name)
		switch {
		case err != nil:
			p.polled(err)
			log.Error("lock mailbox", "err", err)
		case !ok:
			// Another daemon polls this mailbox; stand by to take over.
			p.active.Store(false)
			release()
			sleep(ctx, 3*time.Second)
			continue
		default:
			// Active until another daemon takes the lock: between sessions
			// (backoff after an error) the mailbox is still this process's.
			p.active.Store(true)
			var opened bool
			opened, err = p.session(ctx)
			release()
			if ctx.Err() != nil {
				return nil
			}
			p.polled(err)
			if opened {
				// The server worked until now (a restart, an idle timeout):
				// come back at once, not after the last outage's backoff.
				delay = reconnectMin
			}
			if throttled(err) {
				// Exchange Online and Gmail say so when a client connects
				// too often; coming back sooner only extends the penalty.
				delay = throttleBackoff
			}
			if err != nil {
				log.Warn("imap session ended", "err", err, "retry_in", delay)
			}
		}
		sleep(ctx, jitter(delay))
		delay = min(delay*2, reconnectMax)
	}
	return nil
}

func (p *Poller) polled(err error) {
	if p.OnPoll != nil {
		p.OnPoll(p.Mailbox.Name, err)
	}
}

// Reconnect backoff: from reconnectMin after a session that worked, doubling
// while the server stays unreachable, never longer than reconnectMax, so
// intake resumes within seconds of a restarted server.
const (
	reconnectMin = time.Second
	reconnectMax = 15 * time.Second
)

// throttleBackoff is the wait after a server says it is limiting us.
const throttleBackoff = 2 * time.Minute

// throttled reports a server's answer that we connect or ask too much:
// Exchange's [THROTTLED], RFC 5530's [LIMIT] and [UNAVAILABLE].
func throttled(err error) bool {
	var imapErr *imap.Error
	if !errors.As(err, &imapErr) {
		return false
	}
	switch imapErr.Code {
	case "THROTTLED", imap.ResponseCodeLimit, imap.ResponseCodeUnavailable:
		return true
	}
	return false
}

// session is one IMAP connection: catch up, then wait for news, repeatedly.
// opened reports that it read the folder at least once.
func (p *Poller) session(ctx context.Context) (opened bool, err error) {
	mb := p.Mailbox
	news := make(chan struct{}, 1)
	c, err := dial(mb, &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				select {
				case news <- struct{}{}:
				default:
				}
			}
		},
	})
	if err != nil {
		return false, err
	}
	defer c.Close()
	// Closing the connection is how a blocked command learns of shutdown.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()

	until, err := login(ctx, c, mb)
	if err != nil {
		return false, err
	}
	sel, err := c.Select(mb.Folder, &imap.SelectOptions{ReadOnly: mb.MoveTo == ""}).Wait()
	if err != nil {
		return false, fmt.Errorf("select %s: %w", mb.Folder, err)
	}
	canIdle := c.Caps().Has(imap.CapIdle)
	for {
		if err := p.catchUp(ctx, c, sel.UIDValidity); err != nil {
			return opened, err
		}
		opened = true
		p.polled(nil)
		if !until.IsZero() && time.Until(until) <= 0 {
			// The token we signed in with is about to lapse; Exchange ends
			// such sessions itself. Sign in again with a fresh one.
			p.log().Info("imap session renewed before its token expires", "mailbox", mb.Name)
			c.Logout().Wait()
			return opened, nil
		}
		if canIdle {
			if err := waitIdle(ctx, c, news, waitFor(mb.PollInterval, until)); err != nil {
				return opened, err
			}
		} else {
			select {
			case <-ctx.Done():
			case <-time.After(mb.PollInterval):
			}
		}
		if ctx.Err() != nil {
			c.Logout().Wait()
			return opened, nil
		}
	}
}

// waitFor is how long to wait for news: the poll interval, or less when the
// session must be renewed before then (until; zero for no limit).
func waitFor(interval time.Duration, until time.Time) time.Duration {
	if until.IsZero() {
		return interval
	}
	return max(min(interval, time.Until(until)), 0)
}

func waitIdle(ctx context.Context, c *imapclient.Client, news <-chan struct{}, max time.Duration) error {
	idle, err := c.Idle()
	if err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	select {
	case <-news:
	case <-ctx.Done():
	case <-time.After(max):
	case <-c.Closed():
	}
	if err := idle.Close(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("stop idle: %w", err)
	}
	if err := idle.Wait(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("idle: %w", err)
	}
	return nil
}

// catchUp delivers every message above the checkpoint, one at a time, each
// in the transaction that advances the checkpoint past it.
func (p *Poller) catchUp(ctx context.Context, c *imapclient.Client, validity uint32) error {
	mb, store := p.Mailbox, p.Intake.Store
	cp, known, err := store.LoadCheckpoint(ctx, mb.Name, mb.Folder)
	if err != nil {
		return err
	}
	// quietBefore: after a UIDVALIDITY change every message gets a new UID,
	// so the folder is read again. Duplicates are caught by their keys; mail
	// that arrived before our last successful poll is old and must not be
	// acknowledged again.
	var quietBefore time.Time
	if known && cp.UIDValidity != validity {
		p.log().Warn("UIDVALIDITY changed: re-reading folder", "old", cp.UIDValidity, "new", validity)
		quietBefore = cp.LastPollAt
		cp.LastUID = 0
	}
	cp.UIDValidity = validity
	data, err := c.UIDSearch(&imap.SearchCriteria{
		UID: []imap.UIDSet{{imap.UIDRange{Start: imap.UID(cp.LastUID + 1), Stop: 0}}},
	}, nil).Wait()
	if err != nil {
		return fmt.Errorf("search new mail: %w", err)
	}
	var uids []imap.UID
	for _, u := range data.AllUIDs() {
		// "N:*" always matches the highest UID, even one below N.
		if uint32(u) > cp.LastUID {
			uids = append(uids, u)
		}
	}
	sort.Slice(uids, func(i, j int) bool { return uids[i] < uids[j] })
	if len(uids) == 0 {
		return store.SaveCheckpoint(ctx, cp, p.Intake.now())
	}
	for start := 0; start < len(uids); start += fetchBatch {
		if ctx.Err() != nil {
			return nil
		}
		if err := p.fetchBatch(ctx, c, cp, uids[start:min(start+fetchBatch, len(uids))], quietBefore); err != nil {
			return err
		}
	}
	return nil
}

// fetchBatch is how many messages one FETCH asks for; batchBytes caps how
// much of them is held in memory before they are stored.
const (
	fetchBatch = 200
	batchBytes = 4 << 20
)

// fetchBatch streams the messages with these UIDs and stores them in
// batches, each batch in one transaction that advances the checkpoint.
func (p *Poller) fetchBatch(ctx context.Context, c *imapclient.Client, cp core.Checkpoint, uids []imap.UID, quietBefore time.Time) error {
	mb := p.Mailbox
	src := Source{Mailbox: mb.Name, DefaultTopic: mb.DefaultTopic}
	cmd := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{
		UID: true, InternalDate: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	var items []Item
	size := 0
	// Batches are stored in order by one goroutine while this one fetches
	// and parses the next (with move_to, in line: MOVE cannot run while
	// FETCH streams). Order keeps the checkpoint from passing a message
	// that was not stored.
	batches := make(chan []Item, 1)
	storeErr := make(chan error, 1)
	var storing sync.WaitGroup
	storing.Add(1)
	go func() {
		defer storing.Done()
		var failed error
		for batch := range batches {
			if failed == nil {
				failed = p.storeBatch(ctx, c, src, cp, batch)
			}
		}
		storeErr <- failed
	}()
	finish := func() error {
		close(batches)
		storing.Wait()
		return <-storeErr
	}
	flush := func() {
		if len(items) > 0 {
			sort.Slice(items, func(i, j int) bool { return items[i].UID < items[j].UID })
			batches <- items
			items, size = nil, 0
		}
	}
	arrived := newArrivals(uids)
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		buf, err := msg.Collect()
		if err != nil {
			cmd.Close()
			finish()
			return fmt.Errorf("fetch: %w", err)
		}
		it := p.itemOf(src, buf, quietBefore)
		items = append(items, it)
		size += len(it.Raw)
		arrived.add(buf.UID)
		if size >= batchBytes && mb.MoveTo == "" && arrived.complete() {
			flush()
		}
	}
	if err := cmd.Close(); err != nil {
		finish()
		return fmt.Errorf("fetch: %w", err)
	}
	flush()
	return finish()
}

// itemOf turns one fetched message into an intake item.
func (p *Poller) itemOf(src Source, buf *imapclient.FetchMessageBuffer, quietBefore time.Time) Item {
	var raw []byte
	for _, b := range buf.BodySection {
		raw = b.Bytes
	}
	// Internal dates have one-second resolution: a message from the same
	// second as our last poll counts as new, since an extra acknowledgement
	// costs less than a missing one.
	quiet := !quietBefore.IsZero() && buf.InternalDate.Before(quietBefore.Truncate(time.Second))
	it := Item{UID: uint32(buf.UID), Raw: raw, Quiet: quiet}
	p.Intake.PrepareItem(src, &it)
	return it
}

// arrivals tracks which of the requested UIDs a FETCH has returned.
// Servers send results in UID order in practice, but nothing promises it:
// a batch is stored early only when every requested UID up to its last one
// has arrived, so the checkpoint never passes a message still on its way.
type arrivals struct {
	uids     []imap.UID
	received map[imap.UID]bool
	prefix   int // uids[:prefix] have all arrived
	highest  imap.UID
}

func newArrivals(uids []imap.UID) *arrivals {
	return &arrivals{uids: uids, received: map[imap.UID]bool{}}
}

func (a *arrivals) add(uid imap.UID) {
	a.received[uid] = true
	a.highest = max(a.highest, uid)
	for a.prefix < len(a.uids) && a.received[a.uids[a.prefix]] {
		a.prefix++
	}
}

// complete says whether nothing below the highest UID received is missing.
func (a *arrivals) complete() bool {
	return a.prefix > 0 && a.uids[a.prefix-1] >= a.highest
}

// storeBatch stores one batch, then moves it if move_to is set.
func (p *Poller) storeBatch(ctx context.Context, c *imapclient.Client, src Source, cp core.Checkpoint, items []Item) error {
	// Finish the batch even if shutdown begins: a half-done delivery would
	// roll back and be fetched again, which is safe but wasteful.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if _, err := p.Intake.DeliverBatch(dctx, src, &cp, items); err != nil {
		return fmt.Errorf("deliver uids %d-%d: %w", items[0].UID, items[len(items)-1].UID, err)
	}
	if p.Mailbox.MoveTo != "" {
		var set []imap.UID
		for _, it := range items {
			set = append(set, imap.UID(it.UID))
		}
		// Cosmetic, after the commit; the checkpoint is the truth.
		if _, err := c.Move(imap.UIDSetNum(set...), p.Mailbox.MoveTo).Wait(); err != nil {
			p.log().Warn("move processed mail", "folder", p.Mailbox.MoveTo, "err", err)
		}
	}
	return nil
}

func dial(mb Mailbox, handler *imapclient.UnilateralDataHandler) (*imapclient.Client, error) {
	host, _, err := net.SplitHostPort(mb.Addr)
	if err != nil {
		return nil, fmt.Errorf("imap address %q: %w", mb.Addr, err)
	}
	tcfg, err := mailauth.TLSConfig(host, mb.CAFile, mb.InsecureSkipVerify)
	if err != nil {
		return nil, fmt.Errorf("imap %s: %w", mb.Addr, err)
	}
	opts := &imapclient.Options{
		UnilateralDataHandler: handler,
		WordDecoder:           &mime.WordDecoder{CharsetReader: charset.Reader},
		TLSConfig:             tcfg,
		Dialer:                &net.Dialer{Timeout: 30 * time.Second},
	}
	var c *imapclient.Client
	switch mb.TLS {
	case TLSImplicit:
		c, err = imapclient.DialTLS(mb.Addr, opts)
	case TLSStartTLS:
		c, err = imapclient.DialStartTLS(mb.Addr, opts)
	case TLSNone, "":
		c, err = imapclient.DialInsecure(mb.Addr, opts)
	default:
		return nil, fmt.Errorf("unknown imap tls mode %q", mb.TLS)
	}
	var refused *imap.Error
	if mb.TLS == TLSStartTLS && errors.As(err, &refused) {
		// Fail closed: never sign in over a connection we were told to encrypt.
		return nil, fmt.Errorf("connect %s: the server refused STARTTLS, which tls = \"starttls\" requires: %w", mb.Addr, err)
	}
	if err != nil {
		return nil, fmt.Errorf("connect %s (tls %q): %w", mb.Addr, mb.TLS, mailauth.ExplainTLS(err))
	}
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting from %s: %w", mb.Addr, err)
	}
	return c, nil
}

func (p *Poller) log() *slog.Logger {
	l := p.Log
	if l == nil {
		l = slog.Default()
	}
	return l.With("mailbox", p.Mailbox.Name)
}

func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.5 + rand.Float64()))
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
