// Package core is helpdesk's domain and its PostgreSQL store: tickets, their
// thread, people, teams, topics, SLA plans, the outbox and intake checkpoints.
package core

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"
)

// Store is the PostgreSQL-backed home of every ticket. Methods take the
// current time as an argument so tests and the SLA checker control the clock.
type Store struct {
	pool   *pgxpool.Pool
	domain string
	secret []byte
	budget Budget
	reopen time.Duration
	// statusBase is the status pages' base URL, without a trailing slash.
	statusBase string
	// tokenLifetime is how long an agent's reply token is good for, and
	// agentAuth what proves an agent's mail (see Options).
	tokenLifetime time.Duration
	agentAuth     AgentAuth
	// attachLimit: customer files up to this total travel with agents' mail.
	attachLimit int64
	// canned are the responses agents send with /reply NAME.
	canned map[string]*template.Template
	// senders: mailbox name → the From of its tickets' mail.
	senders map[string]Address

	suppressedByBudget atomic.Int64
}

// Options configure a Store.
type Options struct {
	// Domain is the right-hand side of every Message-ID we mint.
	Domain string
	// Secret signs reply tokens; it must stay the same across restarts.
	Secret []byte
	// Budget limits automatic mail (zero: DefaultBudget).
	Budget Budget
	// ReopenWindow: a customer reply this long after resolution opens a new
	// ticket linked to the old one instead of reopening it (zero: 14 days).
	ReopenWindow time.Duration
	// StatusBaseURL is where the status pages are served, e.g.
	// "https://help.example.com"; empty leaves status links out of mail.
	StatusBaseURL string
	// TokenLifetime: an agent's reply token is good this long (zero: 30 days).
	TokenLifetime time.Duration
	// AgentAuth says what proves a mail is an agent's (zero: AgentAuthEither).
	AgentAuth AgentAuth
	// AttachLimit: agents' mail carries a customer's files up to this total
	// size, and lists them with download links above it (zero: 10 MB).
	AttachLimit int64
	// Canned are the responses agents send with /reply NAME: name →
	// text/template source over the ticket's fields.
	Canned map[string]string
	// Senders maps a mailbox name to the From its tickets' mail carries
	// (brands); a mailbox not listed uses the sender's default.
	Senders map[string]Address
}

// AgentAuth is what proves a mail claiming to be an agent's.
type AgentAuth string

// The ways an agent's mail is proven.
const (
	// AgentAuthEither: a reply token issued to the agent for the ticket,
	// or a DKIM (or DMARC) pass for the agent's domain.
	AgentAuthEither AgentAuth = "token-or-dkim"
	// AgentAuthBoth: the token and the DKIM pass, so a leaked token alone
	// runs nothing.
	AgentAuthBoth AgentAuth = "token+dkim"
)

// Budget caps automatic mail (everything but agents' responses) to one
// recipient and about one ticket within a window: a loop with a machine we
// failed to recognise stops here. Zero counts mean no cap.
type Budget struct {
	PerRecipient int
	PerTicket    int
	Window       time.Duration
	// AckInterval: a sender gets at most one acknowledgement within it, however
	// many tickets they open (RFC 3834 section 2: answer a sender once in a while).
	AckInterval time.Duration
	// AlertsPerSender: once one sender has opened more than this many
	// tickets within AlertWindow, agents get one digest instead of an alert
	// per ticket.
	AlertsPerSender int
	AlertWindow     time.Duration
	// TicketsPerSender and TicketsPerDomain limit new tickets an hour (0:
	// none); mail past a limit is grouped on the sender's latest ticket.
	TicketsPerSender int
	TicketsPerDomain int
}

// DefaultBudget allows far more than any conversation needs.
var DefaultBudget = Budget{PerRecipient: 20, PerTicket: 40, Window: time.Hour,
	AckInterval: 24 * time.Hour, AlertsPerSender: 5, AlertWindow: time.Hour, TicketsPerSender: 30}

// Open connects to the database at url. It does not migrate.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, &TemporaryError{fmt.Errorf("ping database: %w", err)}
	}
	if opts.Domain == "" {
		opts.Domain = "helpdesk.invalid"
	}
	if opts.Budget == (Budget{}) {
		opts.Budget = DefaultBudget
	}
	if opts.ReopenWindow <= 0 {
		opts.ReopenWindow = DefaultReopenWindow
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = DefaultTokenLifetime
	}
	if opts.AgentAuth == "" {
		opts.AgentAuth = AgentAuthEither
	}
	if opts.AttachLimit <= 0 {
		opts.AttachLimit = DefaultAttachLimit
	}
	canned, err := parseCanned(opts.Canned)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &Store{pool: pool, domain: opts.Domain, secret: opts.Secret, budget: opts.Budget, reopen: opts.ReopenWindow,
		statusBase: strings.TrimRight(opts.StatusBaseURL, "/"), tokenLifetime: opts.TokenLifetime, agentAuth: opts.AgentAuth,
		attachLimit: opts.AttachLimit, canned: canned, senders: opts.Senders}, nil
}

// Close releases every connection.
func (s *Store) Close() { s.pool.Close() }

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Domain is the domain our Message-IDs end with.
func (s *Store) Domain() string { return s.domain }

func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, fn)
	if err != nil && isConnectionError(err) {
		return &TemporaryError{err}
	}
	return err
}

// TemporaryError marks a failure worth retrying later, such as an unreachable
// database: pipe delivery turns it into EX_TEMPFAIL.
type TemporaryError struct{ Err error }

func (e *TemporaryError) Error() string   { return e.Err.Error() }
func (e *TemporaryError) Unwrap() error   { return e.Err }
func (e *TemporaryError) Temporary() bool { return true }

func isConnectionError(err error) bool {
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// class 08: connection exception; 57P0x: server shutting down
		return len(pgErr.Code) == 5 && (pgErr.Code[:2] == "08" || pgErr.Code[:4] == "57P0")
	}
	return false
}

// Retryable reports whether an intake failure says nothing about the
// message itself: the database unreachable, overloaded, shutting down or in
// a conflict, or the operation cancelled. Anything else (the database
// refusing a value, a limit, or a fault of ours on this message) would
// fail again on the same bytes, so intake quarantines that message rather
// than retry it forever and hold back the mail behind it.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	if isConnectionError(err) || pgconn.Timeout(err) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, puddle.ErrClosedPool) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && len(pgErr.Code) == 5 {
		switch pgErr.Code[:2] {
		case "08", "40", "53", "55", "57", "58", "XX":
			return true // connection, conflict, resources, lock, shutdown, system
		}
	}
	return false
}

// URL is the connection string the store was opened with.
func (s *Store) URL() string { return s.pool.Config().ConnString() }

// SuppressedByBudget counts automatic mails this process did not queue
// because a budget ran out.
func (s *Store) SuppressedByBudget() int64 { return s.suppressedByBudget.Load() }
