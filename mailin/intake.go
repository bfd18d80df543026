package mailin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"helpdesk/core"
)

// Route sends a message to a help topic. A route matches on the address the
// message was sent to, or on a pattern in its subject or body.
type Route struct {
	Address string         // desk address, e.g. emergency@example.com
	Match   *regexp.Regexp // subject or body pattern
	Topic   string
}

// Intake is the one path every message takes, whether it came from an IMAP
// folder or from the MTA through `helpdesk pipe`.
type Intake struct {
	Store *core.Store
	// Desk lists our own addresses; they never become customers or
	// collaborators, and their plus-part carries reply tokens.
	Desk   []string
	Routes []Route
	// TrustedAuthServID is the authserv-id of our receiving server; only its
	// topmost Authentication-Results header can vouch for an agent's mail.
	TrustedAuthServID string
	// FormSenders are the addresses a web form sends from (noreply@…) with
	// the customer in Reply-To: their mail is the Reply-To address's.
	FormSenders []string
	// DKIM verifies agents' DKIM signatures itself; nil leaves proof to the
	// trusted Authentication-Results and reply tokens.
	DKIM *DKIMCheck
	// Spam judges spam; nil takes every message as it comes.
	Spam   *SpamCheck
	Limits Limits
	Log    *slog.Logger
	Now    func() time.Time

	unverified atomic.Int64 // forged or unproven agent mails seen
	counts     sync.Map     // outcome ("human", "bounce", ..., "duplicate", "quarantined") → *atomic.Int64
}

func (in *Intake) count(outcome string) {
	v, _ := in.counts.LoadOrStore(outcome, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// Counts returns how many messages this intake took in, by outcome: a
// class ("human", "autoreply", "bounce", ...), "duplicate" or "quarantined".
func (in *Intake) Counts() map[string]int64 {
	out := map[string]int64{}
	in.counts.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// Source says where a message came from.
type Source struct {
	Mailbox      string
	DefaultTopic string
	Checkpoint   *core.Checkpoint
	// Quiet stores and threads without mailing anyone (backlog imports).
	Quiet bool
}

// Outcome is what Deliver did.
type Outcome struct {
	core.IngestResult
	Class       core.Class
	Reason      string // why the class, or why quarantined
	Quarantined int64  // quarantine id, if the message went there
}

// Deliver parses raw and stores it exactly once. A message that cannot be
// taken in is quarantined with its bytes, so the folder keeps flowing. The
// only error returned is one worth retrying (the database is down): the
// caller must not acknowledge the message then.
func (in *Intake) Deliver(ctx context.Context, src Source, raw []byte) (Outcome, error) {
	var cp *core.Checkpoint
	var uid uint32
	if src.Checkpoint != nil {
		cp, uid = src.Checkpoint, src.Checkpoint.LastUID
	}
	out, err := in.DeliverBatch(ctx, src, cp, []Item{{UID: uid, Raw: raw, Quiet: src.Quiet}})
	if err != nil {
		return Outcome{}, err
	}
	return out[0], nil
}

// Item is one message of a batch, with the UID that follows it into the
// checkpoint.
type Item struct {
	UID   uint32
	Raw   []byte
	Quiet bool

	prepared *Prepared // set by PrepareItem
	prepErr  error
	ready    bool
}

// PrepareItem parses an item ahead of DeliverBatch, which then has only the
// storing left: the poller parses the next messages while the database
// stores the previous batch.
func (in *Intake) PrepareItem(src Source, it *Item) {
	src.Quiet = it.Quiet
	it.prepared, it.prepErr = in.Prepare(src, it.Raw)
	it.ready = true
}

// DeliverBatch takes in consecutive messages of one folder in as few
// transactions as possible, with the same results as delivering each in
// turn. A message that cannot be taken in is quarantined in order: the
// messages before it are committed first, so the checkpoint never passes a
// message that was not stored.
// cp, when set, is advanced past each item as it is stored (or quarantined).
func (in *Intake) DeliverBatch(ctx context.Context, src Source, cp *core.Checkpoint, items []Item) ([]Outcome, error) {
	out := make([]Outcome, len(items))
	var pending []int
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		err := in.store(ctx, src, cp, items, pending, out)
		if err != nil && !core.Retryable(err) {
			// One message that cannot be stored must not hold back the
			// others: store them one by one, quarantining the one that fails.
			in.log().Warn("batch not stored, storing its messages one by one", "mailbox", src.Mailbox, "err", err)
			for _, i := range pending {
				if err = in.storeOrQuarantine(ctx, src, cp, items, i, out); err != nil {
					break
				}
			}
		}
		pending = pending[:0]
		return err
	}
	for i := range items {
		if !items[i].ready {
			in.PrepareItem(src, &items[i])
		}
		if err := items[i].prepErr; err != nil {
			if err := flush(); err != nil {
				return nil, err
			}
			if err := in.quarantine(ctx, src, cp, items[i], err.Error(), &out[i]); err != nil {
				return nil, err
			}
			continue
		}
		out[i].Class, out[i].Reason = items[i].prepared.Class, items[i].prepared.ClassReason
		pending = append(pending, i)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// store takes in the items at idx in one transaction, advancing cp past
// the last of them, and logs and counts each outcome.
func (in *Intake) store(ctx context.Context, src Source, cp *core.Checkpoint, items []Item, idx []int, out []Outcome) error {
	msgs := make([]*core.Inbound, len(idx))
	for j, i := range idx {
		msgs[j] = items[i].prepared.Inbound
	}
	res, err := in.Store.IngestBatch(ctx, msgs, advanced(cp, items[idx[len(idx)-1]].UID), in.now())
	if err != nil {
		return err
	}
	for j, r := range res {
		i, m := idx[j], msgs[j]
		out[i].IngestResult = r
		in.log().Info("message delivered", "mailbox", src.Mailbox, "uid", items[i].UID, "message_id", m.MessageID,
			"class", m.Class, "ticket", r.Ticket, "action", r.Action)
		if r.Duplicate {
			in.count("duplicate")
		} else {
			in.count(string(m.Class))
		}
		if r.Unverified {
			in.log().Warn("unverified agent mail kept as internal record", "mailbox", src.Mailbox, "from", m.From.Email,
				"ticket", r.Ticket, "action", r.Action, "unverified_total", in.unverified.Add(1))
		}
	}
	return nil
}

// storeOrQuarantine stores one item, or quarantines it when storing it
// failed for a reason of its own (see core.Retryable).
func (in *Intake) storeOrQuarantine(ctx context.Context, src Source, cp *core.Checkpoint, items []Item, i int, out []Outcome) error {
	err := in.store(ctx, src, cp, items, []int{i}, out)
	if err == nil || core.Retryable(err) {
		return err
	}
	return in.quarantine(ctx, src, cp, items[i], "could not be stored: "+err.Error(), &out[i])
}

// quarantine sets an item aside with its bytes and a reason, advancing cp
// past it.
func (in *Intake) quarantine(ctx context.Context, src Source, cp *core.Checkpoint, it Item, reason string, out *Outcome) error {
	id, err := in.Store.Quarantine(ctx, src.Mailbox, reason, it.Raw, advanced(cp, it.UID), in.now())
	if err != nil {
		return fmt.Errorf("quarantine uid %d: %w", it.UID, err)
	}
	in.log().Warn("message quarantined", "mailbox", src.Mailbox, "uid", it.UID, "reason", reason, "quarantine", id)
	in.count("quarantined")
	*out = Outcome{Class: out.Class, Quarantined: id, Reason: reason}
	return nil
}

// advanced is cp moved to uid, or nil without a checkpoint (pipe delivery).
func advanced(cp *core.Checkpoint, uid uint32) *core.Checkpoint {
	if cp == nil {
		return nil
	}
	c := *cp
	c.LastUID = uid
	return &c
}

// Prepared is a message ready for core, with the reasons behind its routing.
type Prepared struct {
	*core.Inbound
	ClassReason string
}

// Prepare parses, classifies and routes a message without storing anything:
// Deliver uses it, and so does the explain command.
func (in *Intake) Prepare(src Source, raw []byte) (*Prepared, error) {
	lim := in.Limits
	if lim == (Limits{}) {
		lim = DefaultLimits
	}
	p, err := Parse(raw, lim)
	if err != nil {
		return nil, err
	}
	in.formCustomer(p)
	// Classify first: a bounce from the null sender has no From to read.
	class, why := Classify(p, in.Store.Domain())
	if p.From.Email == "" && !class.Machine() {
		return nil, errors.New("no usable From address")
	}
	msg := &core.Inbound{
		Mailbox:    src.Mailbox,
		MessageID:  p.MessageID,
		InReplyTo:  p.InReplyTo,
		References: p.References,
		From:       p.From,
		Subject:    p.Subject,
		Text:       StripQuotes(p.Text),
		Class:      class,
		Raw:        raw,
		Attach:     p.Attach,
		Quiet:      src.Quiet,
	}
	if class == core.ClassBounce {
		// A bounce threads through the original it carries.
		msg.References = append(msg.References, p.Embedded...)
		msg.Undeliverable = p.HardBounced
	}
	for _, a := range p.Cc {
		if !in.isDesk(a.Email) {
			msg.Cc = append(msg.Cc, a)
		}
	}
	for _, r := range p.Recipients {
		if in.isDesk(r) {
			if tok := core.TokenFromAddress(r); tok != "" {
				msg.ReplyToken = tok
				break
			}
		}
	}
	msg.Commands, msg.CommandRest = ParseCommands(msg.Text)
	auth := ReadAuthResults(p.Header.Values("Authentication-Results"), in.TrustedAuthServID)
	_, fromDomain, _ := strings.Cut(p.From.Email, "@")
	msg.AuthPass = append(auth.Pass, in.DKIM.pass(fromDomain, raw)...)
	msg.FromCount = p.FromCount
	msg.Forged = auth.Forged(fromDomain)
	fwd := p.Attached
	if fwd == nil {
		fwd = inlineForward(p.Text)
	}
	if fwd != nil && !in.isDesk(fwd.From.Email) {
		msg.Forwarded = &core.Forward{From: fwd.From, Subject: fwd.Subject, Text: StripQuotes(fwd.Text)}
	}
	verdict, unscanned := in.Spam.judge(p, raw)
	applySpam(msg, verdict, unscanned)
	msg.Topic, msg.RouteRule = in.route(src, p)
	return &Prepared{Inbound: msg, ClassReason: why}, nil
}

// route picks the help topic: by recipient address, then by subject or body
// pattern, then the mailbox's default.
func (in *Intake) route(src Source, p *Parsed) (topic, rule string) {
	for _, r := range in.Routes {
		if r.Address == "" {
			continue
		}
		for _, rcpt := range p.Recipients {
			if strings.EqualFold(core.BaseAddress(rcpt), r.Address) {
				return r.Topic, "address " + r.Address
			}
		}
	}
	for _, r := range in.Routes {
		if r.Match == nil {
			continue
		}
		if r.Match.MatchString(p.Subject) {
			return r.Topic, "subject matches " + r.Match.String()
		}
		if r.Match.MatchString(p.Text) {
			return r.Topic, "body matches " + r.Match.String()
		}
	}
	if src.DefaultTopic != "" {
		return src.DefaultTopic, "default topic of mailbox " + src.Mailbox
	}
	return "", ""
}

// formCustomer makes a web form's mail the customer's: the form sends from
// its own address and names the customer in Reply-To.
func (in *Intake) formCustomer(p *Parsed) {
	for _, f := range in.FormSenders {
		if !strings.EqualFold(core.BaseAddress(f), core.BaseAddress(p.From.Email)) {
			continue
		}
		if rt := addresses(p.Header, "Reply-To"); len(rt) == 1 && !in.isDesk(rt[0].Email) {
			p.From, p.FromCount = rt[0], 1
		}
		return
	}
}

func (in *Intake) isDesk(addr string) bool {
	base := core.BaseAddress(addr)
	for _, d := range in.Desk {
		if strings.EqualFold(base, d) {
			return true
		}
	}
	return false
}

func (in *Intake) now() time.Time {
	if in.Now != nil {
		return in.Now()
	}
	return time.Now()
}

func (in *Intake) log() *slog.Logger {
	if in.Log != nil {
		return in.Log
	}
	return slog.Default()
}
