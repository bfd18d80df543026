package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Class says what kind of sender a message came from.
type Class string

// The classes intake tells apart. Only human mail may create tickets,
// customers or automatic replies.
const (
	ClassHuman     Class = "human"
	ClassAutoReply Class = "autoreply"
	ClassBounce    Class = "bounce"
	ClassReceipt   Class = "receipt"
	ClassAbuse     Class = "abuse"
	ClassLoop      Class = "loop"
)

// Machine reports whether mail of this class was sent by a program.
func (c Class) Machine() bool { return c != ClassHuman }

// Inbound is a parsed incoming message, ready to be stored.
type Inbound struct {
	Mailbox    string
	MessageID  string // without angle brackets; empty if the message had none
	InReplyTo  []string
	References []string
	From       Address
	Cc         []Address
	Subject    string
	Text       string // display text, quoted history stripped
	Class      Class
	// ReplyToken is the plus-part of the desk address the message was sent to.
	ReplyToken string
	// Topic is the help topic routing chose, and RouteRule why.
	Topic     string
	RouteRule string
	Raw       []byte
	Attach    []Attachment
	// Commands are the command lines at the top of the text and CommandRest
	// the text after them; they count only in mail from a verified agent.
	Commands    []Command
	CommandRest string
	// AuthPass lists domains for which the trusted receiving server's
	// Authentication-Results show DKIM or DMARC pass.
	AuthPass []string
	// Undeliverable lists addresses a hard bounce says we must stop mailing.
	Undeliverable []string
	// Quiet stores and threads without sending anything: for backlog imports.
	Quiet bool
	// Checkpoint, when set, is advanced in the same transaction.
	Checkpoint *Checkpoint
}

// Attachment describes a MIME part kept with a message.
type Attachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	Inline      bool   `json:"inline"`
}

// Checkpoint is how far intake has read an IMAP folder.
type Checkpoint struct {
	Mailbox     string
	Folder      string
	UIDValidity uint32
	LastUID     uint32
	// LastPollAt is when the folder was last read successfully; it is
	// loaded, never saved from here (saving stamps the current time).
	LastPollAt time.Time
}

// Key is the message's unique storage key.
func (in *Inbound) Key() string {
	if in.MessageID != "" {
		return "mid:" + in.MessageID
	}
	return DigestKey(in.Raw)
}

// IngestResult says what Ingest did with a message.
type IngestResult struct {
	Duplicate bool  // already stored: nothing changed but the checkpoint
	Ticket    int64 // ticket number, 0 when the message joined no ticket
	Created   bool  // a new ticket was opened
	// Unverified: the mail claimed to be an agent's and could not prove it.
	Unverified bool
	Action     string // short description for logs and the explain command
}

// DefaultReopenWindow is how long after resolution a customer reply reopens
// a ticket; later replies open a new ticket linked to the old one.
const DefaultReopenWindow = 14 * 24 * time.Hour

// Ingest stores one message exactly once, and in the same transaction threads
// it onto a ticket (or opens one), writes the thread entries and events,
// queues the mail it causes, and advances the intake checkpoint.
func (s *Store) Ingest(ctx context.Context, in *Inbound, now time.Time) (IngestResult, error) {
	var res IngestResult
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		res = IngestResult{}
		if in.Checkpoint != nil {
			if err := saveCheckpoint(ctx, tx, *in.Checkpoint, now); err != nil {
				return err
			}
		}
		var msgRef int64
		err := tx.QueryRow(ctx, `
			INSERT INTO messages (message_key, message_id, mailbox, class, raw, received_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (message_key) DO NOTHING RETURNING id`,
			in.Key(), in.MessageID, in.Mailbox, string(in.Class), firstChunk(in.Raw), now).Scan(&msgRef)
		if errors.Is(err, pgx.ErrNoRows) {
			res.Duplicate, res.Action = true, "duplicate: already stored"
			return nil
		}
		if err != nil {
			return fmt.Errorf("store message: %w", err)
		}
		if err := appendRaw(ctx, tx, msgRef, in.Raw); err != nil {
			return err
		}
		for _, a := range in.Attach {
			if _, err := tx.Exec(ctx, `INSERT INTO attachments (message_ref, filename, content_type, size, inline) VALUES ($1, $2, $3, $4, $5)`,
				msgRef, a.Filename, a.ContentType, a.Size, a.Inline); err != nil {
				return fmt.Errorf("store attachment: %w", err)
			}
		}
		return s.thread(ctx, tx, in, msgRef, now, &res)
	})
	if err != nil {
		return IngestResult{}, fmt.Errorf("ingest %s: %w", in.Key(), err)
	}
	return res, nil
}

// rawChunk is the most of a raw message sent in one statement. The driver
// copies each parameter twice on its way out, so sending a 25 MB message
// whole would cost 50 MB more; in chunks it costs a few.
const rawChunk = 4 << 20

func firstChunk(raw []byte) []byte {
	return raw[:min(len(raw), rawChunk)]
}

// appendRaw stores the rest of a message whose first chunk is stored.
func appendRaw(ctx context.Context, tx pgx.Tx, id int64, raw []byte) error {
	for off := rawChunk; off < len(raw); off += rawChunk {
		if _, err := tx.Exec(ctx, `UPDATE messages SET raw = raw || $2 WHERE id = $1`, id, raw[off:min(off+rawChunk, len(raw))]); err != nil {
			return fmt.Errorf("store message %d: %w", id, err)
		}
	}
	return nil
}

func saveCheckpoint(ctx context.Context, tx pgx.Tx, c Checkpoint, now time.Time) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO mailbox_checkpoints (mailbox, folder, uid_validity, last_uid, last_poll_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (mailbox, folder) DO UPDATE SET
			last_uid = CASE WHEN mailbox_checkpoints.uid_validity = excluded.uid_validity
				THEN greatest(mailbox_checkpoints.last_uid, excluded.last_uid) ELSE excluded.last_uid END,
			uid_validity = excluded.uid_validity, last_poll_at = excluded.last_poll_at`,
		c.Mailbox, c.Folder, int64(c.UIDValidity), int64(c.LastUID), now)
	if err != nil {
		return fmt.Errorf("save checkpoint %s/%s: %w", c.Mailbox, c.Folder, err)
	}
	return nil
}

// SaveCheckpoint records progress through a folder without a message, for
// example after a UIDVALIDITY change or when a folder is empty.
func (s *Store) SaveCheckpoint(ctx context.Context, c Checkpoint, now time.Time) error {
	return s.inTx(ctx, func(tx pgx.Tx) error { return saveCheckpoint(ctx, tx, c, now) })
}

// LoadCheckpoint returns how far a folder has been read; ok is false when it
// has never been read.
func (s *Store) LoadCheckpoint(ctx context.Context, mailbox, folder string) (c Checkpoint, ok bool, err error) {
	var v, uid int64
	var last *time.Time
	err = s.pool.QueryRow(ctx, `SELECT uid_validity, last_uid, last_poll_at FROM mailbox_checkpoints WHERE mailbox = $1 AND folder = $2`,
		mailbox, folder).Scan(&v, &uid, &last)
	if errors.Is(err, pgx.ErrNoRows) {
		return Checkpoint{Mailbox: mailbox, Folder: folder}, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("load checkpoint %s/%s: %w", mailbox, folder, err)
	}
	c = Checkpoint{Mailbox: mailbox, Folder: folder, UIDValidity: uint32(v), LastUID: uint32(uid)}
	if last != nil {
		c.LastPollAt = *last
	}
	return c, true, nil
}

// thread finds the ticket a stored message belongs to and applies it.
func (s *Store) thread(ctx context.Context, tx pgx.Tx, in *Inbound, msgRef int64, now time.Time, res *IngestResult) error {
	t, how, err := s.findTicket(ctx, tx, in, true)
	if err != nil {
		return err
	}
	if t != nil && !in.Class.Machine() {
		handled, err := s.staffMail(ctx, tx, t, in, msgRef, now, how, res)
		if handled || err != nil {
			return err
		}
	}
	for _, addr := range in.Undeliverable {
		if _, err := tx.Exec(ctx, `UPDATE customers SET undeliverable_at = $2 WHERE email = lower($1) AND undeliverable_at IS NULL`,
			addr, now); err != nil {
			return fmt.Errorf("mark %s undeliverable: %w", addr, err)
		}
	}
	if in.Class.Machine() {
		// Machine mail is kept, on its ticket when we can tell which, but it
		// never opens, reopens or answers anything.
		if t == nil {
			res.Action = fmt.Sprintf("%s: stored, no ticket", in.Class)
			return nil
		}
		res.Ticket, res.Action = t.Number, fmt.Sprintf("%s: stored on ticket (%s)", in.Class, how)
		if _, err := tx.Exec(ctx, `UPDATE messages SET ticket_id = $1 WHERE id = $2`, t.ID, msgRef); err != nil {
			return err
		}
		return addEntry(ctx, tx, t.ID, entry{kind: EntryEvent, event: EventMachineMail, body: in.Subject,
			data: map[string]any{"class": string(in.Class), "from": in.From.Email}, messageRef: msgRef}, now)
	}
	if t != nil && (t.Status == StatusResolved || t.Status == StatusClosed) {
		since := t.UpdatedAt
		if t.ClosedAt != nil {
			since = *t.ClosedAt
		} else if t.ResolvedAt != nil {
			since = *t.ResolvedAt
		}
		if now.Sub(since) > s.reopen {
			return s.openTicket(ctx, tx, in, msgRef, now, res, t.ID)
		}
		if err := s.setStatus(ctx, tx, t, StatusOpen, actor{}, now); err != nil {
			return err
		}
	}
	if t == nil {
		return s.openTicket(ctx, tx, in, msgRef, now, res, 0)
	}
	return s.appendCustomerMessage(ctx, tx, t, in, msgRef, now, how, res)
}

// findTicket applies the threading rules in order: reply token, then
// In-Reply-To/References, then the subject tag if the sender is on the ticket.
// With lock, the ticket found is locked for the rest of the transaction.
func (s *Store) findTicket(ctx context.Context, tx pgx.Tx, in *Inbound, lock bool) (*Ticket, string, error) {
	if in.ReplyToken != "" {
		if tok, ok := s.ParseToken(in.ReplyToken); ok {
			t, err := ticketByNumber(ctx, tx, tok.Ticket, lock)
			if err != nil || t != nil {
				return t, "reply token", err
			}
		}
	}
	ids := append(append([]string{}, in.InReplyTo...), in.References...)
	if len(ids) > 0 {
		var number int64
		err := tx.QueryRow(ctx, `
			SELECT t.number FROM tickets t WHERE t.id IN (
				SELECT ticket_id FROM thread_ids WHERE message_id = ANY($1)
				UNION SELECT ticket_id FROM outbox WHERE message_id = ANY($1) AND ticket_id IS NOT NULL)
			ORDER BY t.number DESC LIMIT 1`, ids).Scan(&number)
		if err == nil {
			t, err := ticketByNumber(ctx, tx, number, lock)
			return t, "references", err
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return nil, "", fmt.Errorf("look up references: %w", err)
		}
	}
	if n, ok := ParseSubjectTag(in.Subject); ok {
		t, err := ticketByNumber(ctx, tx, n, lock)
		if err != nil || t == nil {
			return nil, "", err
		}
		var onTicket bool
		err = tx.QueryRow(ctx, `
			SELECT EXISTS (SELECT 1 FROM customers c WHERE c.email = lower($2) AND (c.id = $3 OR
				EXISTS (SELECT 1 FROM ticket_collaborators tc WHERE tc.ticket_id = $1 AND tc.customer_id = c.id)))
			OR EXISTS (SELECT 1 FROM agents a WHERE a.email = lower($2) AND a.active)`,
			t.ID, in.From.Email, t.customerID).Scan(&onTicket)
		if err != nil {
			return nil, "", fmt.Errorf("check sender on ticket: %w", err)
		}
		if onTicket {
			return t, "subject tag", nil
		}
	}
	return nil, "", nil
}

func (s *Store) appendCustomerMessage(ctx context.Context, tx pgx.Tx, t *Ticket, in *Inbound, msgRef int64, now time.Time, how string, res *IngestResult) error {
	custID, err := upsertCustomer(ctx, tx, in.From, now)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE messages SET ticket_id = $1 WHERE id = $2`, t.ID, msgRef); err != nil {
		return err
	}
	if err := addThreadID(ctx, tx, t.ID, in.MessageID); err != nil {
		return err
	}
	if err := addEntry(ctx, tx, t.ID, entry{kind: EntryMessage, customerID: custID, body: in.Text, messageRef: msgRef,
		data: map[string]any{"threaded_by": how}}, now); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE tickets SET updated_at = $2 WHERE id = $1`, t.ID, now); err != nil {
		return err
	}
	res.Ticket, res.Action = t.Number, "reply on ticket ("+how+")"
	if in.Quiet || t.Assignee == nil {
		return nil
	}
	return s.queue(ctx, tx, now, outMail{
		ticket: t, template: TemplateCustomerReplyAlert, to: *t.Assignee, agentID: t.assigneeID,
		inReplyTo: in.MessageID,
		data:      map[string]any{"From": in.From.String(), "Body": excerpt(in.Text)},
	})
}

func (s *Store) openTicket(ctx context.Context, tx pgx.Tx, in *Inbound, msgRef int64, now time.Time, res *IngestResult, linked int64) error {
	custID, err := upsertCustomer(ctx, tx, in.From, now)
	if err != nil {
		return err
	}
	route, err := loadRoute(ctx, tx, in.Topic)
	if err != nil {
		return err
	}
	root := in.MessageID
	if root == "" {
		root = s.newMessageID(0)
	}
	var id, number int64
	err = tx.QueryRow(ctx, `
		INSERT INTO tickets (subject, priority, customer_id, help_topic_id, department_id, team_id, assignee_id,
			sla_plan_id, mailbox, root_message_id, linked_ticket_id, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, nullif($11, 0::bigint), $12, $12)
		RETURNING id, number`,
		CleanSubject(in.Subject), string(route.priority), custID, route.topicID, route.departmentID, route.teamID,
		route.assigneeID, route.slaID, in.Mailbox, root, linked, now).Scan(&id, &number)
	if err != nil {
		return fmt.Errorf("create ticket: %w", err)
	}
	if err := s.resetSLA(ctx, tx, id, now); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE messages SET ticket_id = $1 WHERE id = $2`, id, msgRef); err != nil {
		return err
	}
	if err := addThreadID(ctx, tx, id, root); err != nil {
		return err
	}
	for _, cc := range in.Cc {
		ccID, err := upsertCustomer(ctx, tx, cc, now)
		if err != nil {
			return err
		}
		if ccID == custID {
			continue
		}
		if _, err := tx.Exec(ctx, `INSERT INTO ticket_collaborators (ticket_id, customer_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, id, ccID); err != nil {
			return fmt.Errorf("add collaborator: %w", err)
		}
	}
	created := route.createdData()
	if linked != 0 {
		var old int64
		if err := tx.QueryRow(ctx, `SELECT number FROM tickets WHERE id = $1`, linked).Scan(&old); err != nil {
			return err
		}
		created["linked_ticket"] = old
	}
	if err := addEntry(ctx, tx, id, entry{kind: EntryEvent, event: EventCreated, customerID: custID, data: created}, now); err != nil {
		return err
	}
	if route.topic != "" {
		if err := addEntry(ctx, tx, id, entry{kind: EntryEvent, event: EventRouted, data: route.routedData(in.RouteRule)}, now); err != nil {
			return err
		}
	}
	if err := addEntry(ctx, tx, id, entry{kind: EntryMessage, customerID: custID, body: in.Text, messageRef: msgRef}, now); err != nil {
		return err
	}
	if route.assigneeID == nil && route.teamID != nil {
		if err := roundRobin(ctx, tx, id, *route.teamID, now); err != nil {
			return err
		}
	}
	t, err := ticketByNumber(ctx, tx, number, false)
	if err != nil {
		return err
	}
	res.Ticket, res.Created, res.Action = number, true, "new ticket"
	if linked != 0 {
		res.Action = "new ticket (linked to a ticket closed too long ago)"
	}
	if in.Quiet {
		return nil
	}
	if err := s.queue(ctx, tx, now, outMail{ticket: t, template: TemplateAck, to: t.Customer, inReplyTo: in.MessageID}); err != nil {
		return err
	}
	return s.alertNewTicket(ctx, tx, t, in, now)
}

// alertNewTicket tells the admins, the assignee and, when nobody is
// assigned, the team's agents who are not away, about a new ticket.
func (s *Store) alertNewTicket(ctx context.Context, tx pgx.Tx, t *Ticket, in *Inbound, now time.Time) error {
	list, err := new(alertees).forNewTicket(ctx, tx, t)
	if err != nil {
		return err
	}
	return s.mailAgents(ctx, tx, now, t, list, TemplateNewTicketAlert, in.MessageID,
		map[string]any{"From": in.From.String(), "Body": excerpt(in.Text)})
}

// roundRobin assigns a new ticket to the next member of an auto-assigning
// team who is not away, after the one who got the team's last ticket. The
// team row is locked so concurrent intakes take turns properly.
func roundRobin(ctx context.Context, tx pgx.Tx, ticketID, teamID int64, now time.Time) error {
	var auto bool
	var last int64
	var team string
	err := tx.QueryRow(ctx, `SELECT auto_assign, coalesce(last_assignee, 0), name FROM teams WHERE id = $1 FOR UPDATE`, teamID).
		Scan(&auto, &last, &team)
	if err != nil || !auto {
		return err
	}
	var next int64
	var email string
	err = tx.QueryRow(ctx, `
		SELECT a.id, a.email FROM agents a JOIN agent_teams at ON at.agent_id = a.id
		WHERE at.team_id = $1 AND a.active AND NOT a.away
		ORDER BY (a.id <= $2), a.id LIMIT 1`, teamID, last).Scan(&next, &email)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // everyone is away: the team's alert goes out unassigned
	}
	if err != nil {
		return fmt.Errorf("round-robin in team %s: %w", team, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE teams SET last_assignee = $2 WHERE id = $1`, teamID, next); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE tickets SET assignee_id = $2 WHERE id = $1`, ticketID, next); err != nil {
		return err
	}
	return addEntry(ctx, tx, ticketID, entry{kind: EntryEvent, event: EventAssigned,
		data: map[string]any{"to": email, "rule": "round-robin in team " + team}}, now)
}

func upsertCustomer(ctx context.Context, tx pgx.Tx, a Address, now time.Time) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `
		INSERT INTO customers (email, name, created_at) VALUES (lower($1), $2, $3)
		ON CONFLICT (email) DO UPDATE SET name = CASE WHEN customers.name = '' THEN excluded.name ELSE customers.name END
		RETURNING id`, strings.TrimSpace(a.Email), a.Name, now).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("upsert customer %s: %w", a.Email, err)
	}
	return id, nil
}

func addThreadID(ctx context.Context, tx pgx.Tx, ticketID int64, messageID string) error {
	if messageID == "" {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO thread_ids (message_id, ticket_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, messageID, ticketID)
	if err != nil {
		return fmt.Errorf("remember message id: %w", err)
	}
	return nil
}
