package core

import (
	"context"
	"errors"
	"fmt"
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
	// ClassSpam is mail judged spam: kept, never answered, never a ticket.
	ClassSpam Class = "spam"
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
	// AuthPass lists domains for which DKIM or DMARC passed: in the trusted
	// receiving server's Authentication-Results, or checked by intake itself.
	AuthPass []string
	// FromCount is how many addresses the From line names; a mail from
	// several proves no one agent sent it.
	FromCount int
	// Undeliverable lists addresses a hard bounce says we must stop mailing.
	Undeliverable []string
	// Quiet stores and threads without sending anything: for backlog imports.
	Quiet bool
	// Note says why the class was chosen when that needs telling: the spam
	// verdict, or why the message could not be scanned.
	Note string
	// Forwarded is a customer's message this one carries (forwarded as an
	// attachment or inline): an agent forwarding it opens a ticket for
	// that customer.
	Forwarded *Forward
	// Released: an admin released it from spam, so blocks do not apply.
	Released bool
	// Forged says why the sender is likely forged (trusted DMARC fail, say):
	// the ticket is opened, but nothing automatic answers it.
	Forged string
}

// Forward is a message carried inside another.
type Forward struct {
	From    Address
	Subject string
	Text    string
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
	if in.Class == ClassSpam {
		return s.storeSpam(ctx, tx, in, now, res)
	}
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
			return fmt.Errorf("store machine mail on ticket %d: %w", t.ID, err)
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
			return s.openTickets(ctx, tx, []opening{{msg: in, ref: msgRef, linked: t.ID, result: res}}, now)
		}
		if err := s.setStatus(ctx, tx, t, StatusOpen, actor{}, now); err != nil {
			return err
		}
	}
	if t == nil && in.Forwarded != nil && in.Class == ClassHuman && !forwardedNothing(in) {
		if opened, err := s.openForwarded(ctx, tx, in, msgRef, now, res); opened || err != nil {
			return err
		}
	}
	if t == nil && isQueueRequest(in) {
		if answered, err := s.answerQueue(ctx, tx, in, now, res); answered || err != nil {
			return err
		}
	}
	if t == nil && suppressed(in.From.Email) != "" {
		// A no-reply sender (a notification robot) referring to no ticket:
		// nobody can answer it, so it is kept, findable, and opens nothing.
		res.Action = "from a no-reply address, refers to no ticket: stored, no ticket"
		return nil
	}
	if t == nil {
		return s.openTickets(ctx, tx, []opening{{msg: in, ref: msgRef, result: res}}, now)
	}
	return s.appendCustomerMessage(ctx, tx, t, in, msgRef, now, how, res)
}

// findTicket applies the threading rules in order: reply token, then
// In-Reply-To/References, then the subject tag if the sender is on the ticket.
// With lock, the ticket found is locked for the rest of the transaction.
func (s *Store) findTicket(ctx context.Context, tx pgx.Tx, in *Inbound, lock bool) (*Ticket, string, error) {
	t, how, err := s.findTicketByRule(ctx, tx, in, lock)
	if err != nil || t == nil {
		return t, how, err
	}
	// A ticket merged into another lives on there: mail about it goes too.
	for hops := 0; t.MergedInto != 0 && hops < 10; hops++ {
		if t, err = ticketByNumber(ctx, tx, t.MergedInto, lock); err != nil || t == nil {
			return nil, "", err
		}
		how += ", merged"
	}
	return t, how, nil
}

// findTicketByRule applies the threading rules, before following merges.
func (s *Store) findTicketByRule(ctx context.Context, tx pgx.Tx, in *Inbound, lock bool) (*Ticket, string, error) {
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
	custID, err := upsertCustomer(ctx, tx, in.From, true, now)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE messages SET ticket_id = $1 WHERE id = $2`, t.ID, msgRef); err != nil {
		return fmt.Errorf("attach reply to ticket %d: %w", t.ID, err)
	}
	if err := addThreadID(ctx, tx, t.ID, in.MessageID); err != nil {
		return err
	}
	// The customer's reply-all keeps the people they copied on the ticket;
	// a stranger's Cc line adds nobody.
	if custID == t.customerID {
		if err := addCollaborators(ctx, tx, t.ID, custID, in.Cc, now); err != nil {
			return err
		}
	}
	if err := addEntry(ctx, tx, t.ID, entry{kind: EntryMessage, customerID: custID, body: in.Text, messageRef: msgRef,
		data: map[string]any{"threaded_by": how}}, now); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE tickets SET updated_at = $2 WHERE id = $1`, t.ID, now); err != nil {
		return fmt.Errorf("touch ticket %d: %w", t.ID, err)
	}
	res.Ticket, res.Action = t.Number, "reply on ticket ("+how+")"
	if in.Quiet || t.Assignee == nil {
		return nil
	}
	alert := outMail{ticket: t, template: TemplateCustomerReplyAlert, to: *t.Assignee, agentID: t.assigneeID,
		inReplyTo: in.MessageID, data: MailData{From: in.From.Display(), Body: excerpt(in.Text)}}
	files, err := filesOf(ctx, tx, []int64{msgRef})
	if err != nil {
		return err
	}
	s.withFiles(&alert, msgRef, files[msgRef], now)
	return s.queue(ctx, tx, now, alert)
}

// roundRobin assigns a new ticket to the next member of an auto-assigning
// team who is not away, after the one who got the team's last ticket, and
// updates t to match. The team row is locked so concurrent intakes take
// turns properly.
func roundRobin(ctx context.Context, tx pgx.Tx, t *Ticket, teamID int64, now time.Time) error {
	var auto bool
	var last int64
	var team string
	err := tx.QueryRow(ctx, `SELECT auto_assign, coalesce(last_assignee, 0), name FROM teams WHERE id = $1 FOR UPDATE`, teamID).
		Scan(&auto, &last, &team)
	if err != nil {
		return fmt.Errorf("load team %d: %w", teamID, err)
	}
	if !auto {
		return nil
	}
	var next recipient
	err = tx.QueryRow(ctx, `
		SELECT a.id, a.name, a.email FROM agents a JOIN agent_teams at ON at.agent_id = a.id
		WHERE at.team_id = $1 AND a.active AND NOT a.away
		ORDER BY (a.id <= $2), a.id LIMIT 1`, teamID, last).Scan(&next.id, &next.addr.Name, &next.addr.Email)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // everyone is away: the team's alert goes out unassigned
	}
	if err != nil {
		return fmt.Errorf("round-robin in team %s: %w", team, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE teams SET last_assignee = $2 WHERE id = $1`, teamID, next.id); err != nil {
		return fmt.Errorf("round-robin in team %s: %w", team, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE tickets SET assignee_id = $2 WHERE id = $1`, t.ID, next.id); err != nil {
		return fmt.Errorf("assign ticket %d: %w", t.Number, err)
	}
	t.assigneeID, t.Assignee = next.id, &next.addr
	return addEntry(ctx, tx, t.ID, entry{kind: EntryEvent, event: EventAssigned,
		data: map[string]any{"to": next.addr.Email, "rule": "round-robin in team " + team}}, now)
}

// upsertCustomer records a customer. With fromTheirMail the name is the
// one their own mail just gave (latest wins); otherwise (an agent's /cc) it
// only fills a name not yet known.
func upsertCustomer(ctx context.Context, tx pgx.Tx, a Address, fromTheirMail bool, now time.Time) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `
		INSERT INTO customers (email, name, created_at) VALUES (lower($1), $2, $3)
		ON CONFLICT (email) DO UPDATE SET name = CASE
			WHEN excluded.name <> '' AND ($4 OR customers.name = '') THEN excluded.name ELSE customers.name END
		RETURNING id`, a.Email, CleanLine(a.Name), now, fromTheirMail).Scan(&id)
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
