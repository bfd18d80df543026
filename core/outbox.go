package core

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Template names: every mail helpdesk sends is one of these.
const (
	TemplateAck                = "ack"
	TemplateNewTicketAlert     = "new_ticket_alert"
	TemplateCustomerReplyAlert = "customer_reply_alert"
	TemplateResponse           = "response"
	TemplateAssigned           = "assigned"
	TemplateSLAWarning         = "sla_warning"
	TemplateSLABreach          = "sla_breach"
	TemplateResolved           = "resolved"
	TemplateCommandReceipt     = "command_receipt"
	TemplateCommandError       = "command_error"
	TemplateQuarantineAlert    = "quarantine_alert"
	TemplateStallAlert         = "stall_alert"
	TemplateNote               = "note"
	TemplateDeliveryFailed     = "delivery_failed"
	TemplateSenderFlood        = "sender_flood"
	TemplateSMTPOutage         = "smtp_outage"
	TemplateSpamDigest         = "spam_digest"
	TemplateRateLimited        = "rate_limited"
	TemplateUnverified         = "unverified_agent_mail"
	TemplateMerged             = "merged"
	TemplateQueue              = "queue"
	TemplateOAuthFailure       = "oauth_failure"
	TemplateSLAEscalated       = "sla_escalated"
	TemplateReport             = "report"
)

// Templates lists every template name; mailout checks its set against it.
var Templates = []string{
	TemplateAck, TemplateNewTicketAlert, TemplateCustomerReplyAlert, TemplateResponse, TemplateAssigned,
	TemplateSLAWarning, TemplateSLABreach, TemplateResolved, TemplateCommandReceipt, TemplateCommandError,
	TemplateQuarantineAlert, TemplateStallAlert, TemplateNote, TemplateDeliveryFailed, TemplateSenderFlood,
	TemplateSMTPOutage, TemplateSpamDigest, TemplateRateLimited, TemplateUnverified,
	TemplateMerged, TemplateQueue, TemplateOAuthFailure, TemplateSLAEscalated,
	TemplateReport,
}

// outMail is a mail about to be queued in the outbox.
type outMail struct {
	ticket    *Ticket // nil for mail about no ticket
	template  string
	to        Address
	agentID   int64 // the recipient's agent id: their reply token names them
	inReplyTo string
	data      MailData
	attach    int64     // messages.id of an original to attach
	notBefore time.Time // hold the mail until then (zero: send now)
	cc        []Address // copied in the same mail (a ticket's collaborators)
}

// queue writes a mail to the outbox inside the caller's transaction, so a
// rolled-back change sends nothing. The Message-ID is fixed here, once:
// every retry of this row is recognisably the same mail.
func (s *Store) queue(ctx context.Context, tx pgx.Tx, now time.Time, m outMail) error {
	if reason := suppressed(m.to.Email); reason != "" {
		if m.ticket != nil {
			return addEntry(ctx, tx, m.ticket.ID, entry{kind: EntryEvent, event: "mail_suppressed",
				data: map[string]any{"to": m.to.Email, "template": m.template, "reason": reason}}, now)
		}
		return nil
	}
	if m.agentID == 0 { // agents' addresses are ours to fix, not bounced customers'
		reason, err := s.customerBrake(ctx, tx, m, now)
		if err != nil {
			return err
		}
		if reason != "" {
			if m.ticket != nil {
				return addEntry(ctx, tx, m.ticket.ID, entry{kind: EntryEvent, event: "mail_suppressed",
					data: map[string]any{"to": m.to.Email, "template": m.template, "reason": reason}}, now)
			}
			return nil
		}
	}
	row, err := s.buildRow(m, now)
	if err != nil {
		return err
	}
	return insertRows(ctx, tx, []outboxRow{row}, now)
}

// outboxRow is an outbox row ready to insert.
type outboxRow struct {
	ticketID  *int64
	template  string
	recipient string
	toEmail   string
	messageID string
	inReplyTo string
	refs      string
	data      []byte
	attach    int64
	notBefore time.Time // no attempt before this instant
	digestKey string    // set on digest mails (see queueDigest)
	cc        string    // Cc addresses, RFC 5322, comma-separated
	sender    string    // From, RFC 5322; "" for the desk's default
}

// buildRow fills a mail's template data from its ticket and fixes its
// Message-ID and threading headers. It touches no database.
func (s *Store) buildRow(m outMail, now time.Time) (outboxRow, error) {
	data := m.data
	data.ToName, data.ToEmail = m.to.Name, m.to.Email
	row := outboxRow{template: m.template, recipient: m.to.String(), toEmail: m.to.Email, inReplyTo: m.inReplyTo, attach: m.attach, notBefore: now}
	for i, a := range m.cc {
		if i > 0 {
			row.cc += ", "
		}
		row.cc += a.String()
	}
	if !m.notBefore.IsZero() {
		row.notBefore = m.notBefore
	}
	var number int64
	if t := m.ticket; t != nil {
		row.ticketID, number = &t.ID, t.Number
		if from, ok := s.senders[t.Mailbox]; ok {
			row.sender = from.String()
		}
		data.Number, data.Subject, data.Status, data.Priority = t.Number, t.Subject, string(t.Status), string(t.Priority)
		data.Customer = t.Customer.Display()
		data.Topic, data.SLAPlan, data.Team = t.HelpTopic, t.SLAPlan, t.Team
		if t.Assignee != nil {
			data.Assignee = t.Assignee.Display()
		}
		tok := ReplyToken{Ticket: t.Number, Agent: m.agentID}
		if m.agentID != 0 {
			tok.Until = now.Add(s.tokenLifetime)
		}
		data.ReplyToken = s.MintToken(tok)
		if m.agentID == 0 && s.statusBase != "" {
			// Every customer mail links to the ticket's read-only status page.
			data.StatusURL = s.statusBase + "/status/" + s.StatusToken(t.Number, now.Add(StatusLinkLifetime))
		}
		row.refs = t.RootMessageID
		if m.inReplyTo != "" && m.inReplyTo != t.RootMessageID {
			row.refs += " " + m.inReplyTo
		}
		if row.inReplyTo == "" {
			row.inReplyTo = t.RootMessageID
		}
	}
	var err error
	if row.data, err = json.Marshal(data); err != nil {
		return row, fmt.Errorf("encode mail data: %w", err)
	}
	row.messageID = s.newMessageID(number)
	return row, nil
}

// insertRows writes outbox rows in one statement whatever their number.
func insertRows(ctx context.Context, tx pgx.Tx, rows []outboxRow, created time.Time) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	ticketIDs, attach := make([]*int64, n), make([]int64, n)
	templates, recipients, msgIDs, irts, refs := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	datas, times, emails, digests, ccs := make([]string, n), make([]time.Time, n), make([]string, n), make([]string, n), make([]string, n)
	senders := make([]string, n)
	for i, r := range rows {
		ticketIDs[i], attach[i], templates[i], recipients[i], emails[i] = r.ticketID, r.attach, r.template, r.recipient, r.toEmail
		msgIDs[i], irts[i], refs[i], datas[i], times[i], digests[i] = r.messageID, r.inReplyTo, r.refs, string(r.data), r.notBefore, r.digestKey
		ccs[i], senders[i] = r.cc, r.sender
	}
	// Replies to these mails thread through outbox.message_id itself (it
	// has a unique index), so thread_ids holds only inbound Message-IDs.
	if _, err := tx.Exec(ctx, `
		INSERT INTO outbox (ticket_id, template, recipient, to_email, message_id, in_reply_to, refs, data, attach_message_ref,
			next_attempt_at, digest_key, cc, sender, created_at)
		SELECT t, tpl, rcpt, lower(em), mid, irt, refs, data::jsonb, nullif(att, 0), nb, dk, cc, snd, $14
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[],
			$9::timestamptz[], $10::text[], $11::text[], $12::text[], $13::text[])
			AS u(t, tpl, rcpt, mid, irt, refs, data, att, nb, em, dk, cc, snd)`,
		ticketIDs, templates, recipients, msgIDs, irts, refs, datas, attach, times, emails, digests, ccs, senders, created); err != nil {
		return fmt.Errorf("queue mail: %w", err)
	}
	// Wake the senders when the transaction commits (PostgreSQL delivers
	// notifications only then, so a rolled-back change wakes nobody).
	if _, err := tx.Exec(ctx, `SELECT pg_notify('helpdesk_outbox', '')`); err != nil {
		return fmt.Errorf("notify senders: %w", err)
	}
	return nil
}

// OutboxWakeups returns a channel that receives when new mail is queued, by
// this process or any other on the database. It is a hint: senders still
// look on a timer, so a lost notification only delays mail. A broken
// LISTEN connection is logged and re-established with growing pauses; on
// its return the channel receives once, for what was queued meanwhile. The
// channel is closed when ctx ends.
func (s *Store) OutboxWakeups(ctx context.Context, log *slog.Logger) <-chan struct{} {
	wake := make(chan struct{}, 1)
	go func() {
		defer close(wake)
		pause, broken := time.Second, false
		for ctx.Err() == nil {
			err := s.listen(ctx, wake, func() {
				if broken {
					log.Info("outbox notifications restored")
					broken, pause = false, time.Second
					signal(wake)
				}
			})
			if ctx.Err() != nil {
				return
			}
			if !broken {
				log.Warn("outbox notifications lost; senders fall back to their timer", "err", err)
				broken = true
			}
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
			pause = min(2*pause, 30*time.Second)
		}
	}()
	return wake
}

// listen waits for outbox notifications on a connection of its own until
// the connection breaks or ctx ends; listening is called once LISTEN holds.
func (s *Store) listen(ctx context.Context, wake chan<- struct{}, listening func()) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire connection to listen: %w", err)
	}
	// The connection ends up LISTENing: destroy rather than reuse it.
	defer func() { conn.Conn().Close(context.Background()); conn.Release() }()
	if _, err := conn.Exec(ctx, `LISTEN helpdesk_outbox`); err != nil {
		return fmt.Errorf("listen for outbox mail: %w", err)
	}
	listening()
	for {
		if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
			return fmt.Errorf("wait for outbox notification: %w", err)
		}
		signal(wake)
	}
}

// signal wakes the receiver of wake unless a wakeup is already pending.
func signal(wake chan<- struct{}) {
	select {
	case wake <- struct{}{}:
	default:
	}
}

// customerBrake says why a mail to a customer must not be queued, or "":
// the address bounced for good, or automatic mail to it (or about its
// ticket) is over budget.
func (s *Store) customerBrake(ctx context.Context, tx pgx.Tx, m outMail, now time.Time) (string, error) {
	var ticketID int64
	if m.ticket != nil {
		ticketID = m.ticket.ID
	}
	automatic := m.template != TemplateResponse
	since := now.Add(-s.budget.Window)
	var undeliverable bool
	var toRecipient, aboutTicket int
	err := tx.QueryRow(ctx, `SELECT
		EXISTS (SELECT 1 FROM customers WHERE email = lower($1) AND undeliverable_at IS NOT NULL),
		CASE WHEN $4 THEN (SELECT count(*) FROM outbox WHERE to_email = lower($1) AND created_at > $3 AND template <> 'response') ELSE 0 END,
		CASE WHEN $4 AND $2 <> 0 THEN (SELECT count(*) FROM outbox WHERE ticket_id = $2 AND created_at > $3 AND template <> 'response') ELSE 0 END`,
		m.to.Email, ticketID, since, automatic).Scan(&undeliverable, &toRecipient, &aboutTicket)
	if err != nil {
		return "", fmt.Errorf("check recipient: %w", err)
	}
	return s.brakeReason(undeliverable, automatic, toRecipient, aboutTicket), nil
}

// brakeReason decides, from what is known of a customer address and the
// recent automatic mail to it and about its ticket, why a mail must not go,
// or "".
func (s *Store) brakeReason(undeliverable, automatic bool, toRecipient, aboutTicket int) string {
	switch {
	case undeliverable:
		return "recipient undeliverable"
	case automatic && s.budget.PerRecipient > 0 && toRecipient >= s.budget.PerRecipient:
		s.suppressedByBudget.Add(1)
		return fmt.Sprintf("over budget: %d automatic mails to this address within %v", toRecipient, s.budget.Window)
	case automatic && s.budget.PerTicket > 0 && aboutTicket >= s.budget.PerTicket:
		s.suppressedByBudget.Add(1)
		return fmt.Sprintf("over budget: %d automatic mails about this ticket within %v", aboutTicket, s.budget.Window)
	}
	return ""
}

// recipientHistory is the recent automatic mail to one address.
type recipientHistory struct {
	automatic int       // automatic mails within the budget window
	lastAck   time.Time // latest acknowledgement within AckInterval, or zero
}

func (h recipientHistory) withAck(now time.Time) recipientHistory {
	h.automatic++
	h.lastAck = now
	return h
}

// recentMail reads the history of each address, in one statement.
func (s *Store) recentMail(ctx context.Context, tx pgx.Tx, emails []string, now time.Time) (map[string]recipientHistory, error) {
	window, ackWindow := now.Add(-s.budget.Window), now.Add(-s.budget.AckInterval)
	rows, err := tx.Query(ctx, `SELECT to_email,
			count(*) FILTER (WHERE created_at > $2 AND template <> 'response'),
			max(created_at) FILTER (WHERE created_at > $3 AND template = 'ack')
		FROM outbox WHERE to_email = ANY($1) AND created_at > least($2, $3) GROUP BY to_email`, emails, window, ackWindow)
	if err != nil {
		return nil, fmt.Errorf("count recent mail: %w", err)
	}
	defer rows.Close()
	out := map[string]recipientHistory{}
	for rows.Next() {
		var e string
		var h recipientHistory
		var last *time.Time
		if err := rows.Scan(&e, &h.automatic, &last); err != nil {
			return nil, fmt.Errorf("count recent mail: %w", err)
		}
		if last != nil {
			h.lastAck = *last
		}
		out[e] = h
	}
	return out, rows.Err()
}

// ackBrake says why a new ticket's acknowledgement must not go, or "": the
// customer brakes, then RFC 3834's rule that a sender is answered
// automatically at most once in a while, so a robot that opens a new thread
// with every mail gets one answer, not one per mail. The ticket is opened
// either way.
func (s *Store) ackBrake(undeliverable bool, h recipientHistory) string {
	if reason := s.brakeReason(undeliverable, true, h.automatic, 0); reason != "" {
		return reason
	}
	if s.budget.AckInterval > 0 && !h.lastAck.IsZero() {
		return fmt.Sprintf("already acknowledged at %s: one acknowledgement per sender within %v (RFC 3834)",
			h.lastAck.UTC().Format(time.RFC3339), s.budget.AckInterval)
	}
	return ""
}

// suppressed says why an address must never get automatic mail, or "".
func suppressed(email string) string {
	local, _, _ := strings.Cut(strings.ToLower(email), "@")
	if i := strings.IndexByte(local, '+'); i >= 0 {
		local = local[:i]
	}
	for _, p := range []string{"noreply", "no-reply", "no_reply", "donotreply", "do-not-reply", "mailer-daemon", "postmaster", "bounce", "bounces"} {
		if local == p || strings.HasPrefix(local, p+"-") || strings.HasPrefix(local, p+".") {
			return "machine address"
		}
	}
	if email == "" || !strings.Contains(email, "@") {
		return "no address"
	}
	return ""
}

// OutMail is a claimed outbox row, ready to render and send.
type OutMail struct {
	ID        int64
	Template  string
	Recipient string
	MessageID string
	InReplyTo string
	Refs      []string
	Data      MailData
	Attempts  int
	CreatedAt time.Time
	// Original is an inbound message to attach whole (message/rfc822), or nil.
	Original []byte
	// Claim names this sender's claim; LeaseUntil is when it runs out and
	// another sender may take the mail. Results are recorded only under
	// the claim, and a mail is sent only while the lease runs.
	Claim      int64
	LeaseUntil time.Time
	// DeferredSince is when a peer first answered 4xx, nil if never: the
	// mail's lifetime counts from then.
	DeferredSince *time.Time
	// Cc lists addresses copied in the same mail (RFC 5322, comma-separated).
	Cc string
	// Sender is the From for this mail (a brand), RFC 5322; "" for the default.
	Sender string
	// Unreadable is set when Data could not be decoded (a row written by
	// another version): the mail cannot be rendered and is given up.
	Unreadable error
}

// ClaimOutbox takes up to limit due mails and leases them for lease, so other
// senders skip them (FOR UPDATE SKIP LOCKED) and a crashed sender's mail
// comes back when the lease runs out.
func (s *Store) ClaimOutbox(ctx context.Context, limit int, lease time.Duration, now time.Time) ([]OutMail, error) {
	var out []OutMail
	claim := newClaimToken()
	until := now.Add(lease)
	// One statement, committed on its own: a transaction around it would
	// cost two more round trips per claim and make nothing safer.
	rows, err := s.pool.Query(ctx, `
		UPDATE outbox SET next_attempt_at = $3, attempts = attempts + 1, claim_token = $4
		WHERE id IN (SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= $1
			ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
		RETURNING id, template, recipient, message_id, in_reply_to, refs, data, attempts, created_at, deferred_since, cc, sender,
			(SELECT raw FROM messages WHERE id = attach_message_ref)`,
		now, limit, until, claim)
	if err == nil {
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (OutMail, error) {
			m := OutMail{Claim: claim, LeaseUntil: until}
			var refs string
			var data []byte
			if err := r.Scan(&m.ID, &m.Template, &m.Recipient, &m.MessageID, &m.InReplyTo, &refs, &data, &m.Attempts, &m.CreatedAt,
				&m.DeferredSince, &m.Cc, &m.Sender, &m.Original); err != nil {
				return m, err
			}
			m.Refs = strings.Fields(refs)
			if err := json.Unmarshal(data, &m.Data); err != nil {
				// Handed on rather than failing the claim: the sender gives
				// this one mail up, and the mails behind it still go.
				m.Unreadable = fmt.Errorf("decode data of outbox %d: %w", m.ID, err)
			}
			return m, nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("claim outbox: %w", temporary(err))
	}
	return out, nil
}

func newClaimToken() int64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return int64(binary.BigEndian.Uint64(b[:]) >> 1)
}

// ErrClaimLost is returned when a sender records a result for a mail whose
// lease ran out and that another sender may have claimed since.
var ErrClaimLost = errors.New("claim lost: the lease ran out")

// MarkSent records a delivered mail, under the sender's claim.
func (s *Store) MarkSent(ctx context.Context, m OutMail, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE outbox SET state = 'sent', sent_at = $3, last_error = ''
		WHERE id = $1 AND claim_token = $2 AND state = 'pending'`, m.ID, m.Claim, now)
	if err != nil {
		return fmt.Errorf("mark outbox %d sent: %w", m.ID, temporary(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("mark outbox %d sent: %w", m.ID, ErrClaimLost)
	}
	return nil
}

// RetryLater puts a mail back for another attempt at next. peerDeferred
// says a peer answered 4xx, which starts the mail's lifetime; anything else
// (a connection that failed, a shutdown) leaves it untouched.
func (s *Store) RetryLater(ctx context.Context, m OutMail, next time.Time, reason string, peerDeferred bool, now time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE outbox SET next_attempt_at = $3, last_error = $4,
			deferred_since = CASE WHEN $5 THEN coalesce(deferred_since, $6) ELSE deferred_since END
		WHERE id = $1 AND claim_token = $2 AND state = 'pending'`, m.ID, m.Claim, next, CleanLine(reason), peerDeferred, now)
	if err != nil {
		return fmt.Errorf("reschedule outbox %d: %w", m.ID, temporary(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("reschedule outbox %d: %w", m.ID, ErrClaimLost)
	}
	return nil
}

// temporary marks a connection failure as worth retrying.
func temporary(err error) error {
	if isConnectionError(err) {
		return &TemporaryError{err}
	}
	return err
}

// GiveUp records that a mail will never be delivered and notes it on its
// ticket. When the address itself is bad (a 5.1.x reply), the customer is
// marked undeliverable, so nothing automatic goes there again, and the
// assignee (or the admins) are told once, so a person can reach them another
// way. When the mail was an agent's response or the receipt of their
// commands, that agent is told, once: a failed answer is never silent.
func (s *Store) GiveUp(ctx context.Context, m OutMail, reason string, badAddress bool, now time.Time) error {
	reason = CleanLine(reason)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var ticketID *int64
		var toEmail, template string
		var author int64
		err := tx.QueryRow(ctx, `UPDATE outbox SET state = 'failed', last_error = $3
			WHERE id = $1 AND claim_token = $2 AND state = 'pending'
			RETURNING ticket_id, to_email, template, coalesce((data->>'AuthorID')::bigint, 0)`, m.ID, m.Claim, reason).
			Scan(&ticketID, &toEmail, &template, &author)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("mark outbox %d failed: %w", m.ID, ErrClaimLost)
		}
		if err != nil {
			return fmt.Errorf("mark outbox %d failed: %w", m.ID, err)
		}
		marked := false
		if badAddress {
			tag, err := tx.Exec(ctx, `UPDATE customers SET undeliverable_at = $2 WHERE email = $1 AND undeliverable_at IS NULL`, toEmail, now)
			if err != nil {
				return fmt.Errorf("mark %s undeliverable: %w", toEmail, err)
			}
			marked = tag.RowsAffected() > 0
		}
		if ticketID == nil {
			return nil
		}
		if err := addEntry(ctx, tx, *ticketID, entry{kind: EntryEvent, event: "mail_failed",
			data: map[string]any{"to": toEmail, "template": template, "reason": reason, "undeliverable": badAddress}}, now); err != nil {
			return err
		}
		t, err := ticketByID(ctx, tx, *ticketID)
		if err != nil {
			return err
		}
		return s.reportFailure(ctx, tx, t, failure{to: toEmail, template: template, reason: reason, author: author, undeliverable: marked}, now)
	})
}

// failure is a mail given up, as the people told of it see it.
type failure struct {
	to, template, reason string
	author               int64 // the agent who wrote it (responses, command receipts), or 0
	undeliverable        bool  // the address was just marked undeliverable
}

// reportFailure tells the agent who wrote a failed mail, and when the
// address itself just turned out bad, the assignee (or the admins): each
// person once, in one mail.
func (s *Store) reportFailure(ctx context.Context, tx pgx.Tx, t *Ticket, f failure, now time.Time) error {
	data := MailData{Address: f.to, Reason: f.reason, Undeliverable: f.undeliverable}
	var others []recipient
	if f.undeliverable {
		var err error
		if others, err = agentsWhere(ctx, tx, `(a.id = $1 OR ($1 = 0 AND a.role = 'admin')) AND a.id <> $2`, t.assigneeID, f.author); err != nil {
			return err
		}
	}
	if f.author != 0 {
		authors, err := agentsWhere(ctx, tx, `a.id = $1`, f.author)
		if err != nil {
			return err
		}
		what := "Your response"
		if f.template == TemplateCommandReceipt {
			what = "The receipt of your commands (they were applied)"
		}
		withWhat := data
		withWhat.What = what
		if err := s.mailAgents(ctx, tx, now, t, authors, TemplateDeliveryFailed, "", withWhat); err != nil {
			return err
		}
	}
	return s.mailAgents(ctx, tx, now, t, others, TemplateDeliveryFailed, "", data)
}

// OutboxStats is the outbox's backlog: what waits to go, and what never will.
type OutboxStats struct {
	Pending, Failed int64
	OldestPending   *time.Time
}

// OutboxStats reports the outbox's depth and age. Sent mail, which piles up
// forever, is not counted: the metrics scrape calls this, and it must stay
// cheap; both counts read only partial indexes.
func (s *Store) OutboxStats(ctx context.Context) (OutboxStats, error) {
	var st OutboxStats
	err := s.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM outbox WHERE state = 'pending'),
		(SELECT min(created_at) FROM outbox WHERE state = 'pending'),
		(SELECT count(*) FROM outbox WHERE state = 'failed')`).Scan(&st.Pending, &st.OldestPending, &st.Failed)
	if err != nil {
		return st, fmt.Errorf("outbox stats: %w", err)
	}
	return st, nil
}

// excerpt bounds the text a notification quotes: the whole message is on
// the ticket, and a 200 KB body copied into every alert would only weigh
// down the outbox.
func excerpt(text string) string {
	const max = 8 << 10
	if len(text) <= max {
		return text
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + "\n[… the rest is on the ticket]"
}
