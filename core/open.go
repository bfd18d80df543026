package core

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// opening is a stored message that opens a ticket.
type opening struct {
	msg    *Inbound
	ref    int64 // messages.id
	linked int64 // tickets.id of the resolved ticket it follows up, or 0
	result *IngestResult
}

// draft is everything a new ticket will be, decided before anything is
// written: its route, plan, due times and the ticket as mail will show it.
type draft struct {
	opening
	route    route
	customer customerRow
	ticket   *Ticket
	frDue    *time.Time
	resDue   *time.Time
	next     *time.Time
}

// customerRow is a customer as the opening path needs them.
type customerRow struct {
	id            int64
	name          string
	undeliverable bool
}

// openTickets is the one way a ticket is opened, for a batch of new tickets
// or for one: customers, tickets with their SLA clocks, collaborators,
// thread entries, round robin, then the acknowledgement and the alerts,
// each kind of row written in one statement.
func (s *Store) openTickets(ctx context.Context, tx pgx.Tx, list []opening, now time.Time) error {
	if len(list) == 0 {
		return nil
	}
	list, excess, err := s.splitOverLimit(ctx, tx, list, now)
	if err != nil {
		return err
	}
	if err := s.openAllowed(ctx, tx, list, now); err != nil {
		return err
	}
	return s.groupExcess(ctx, tx, excess, now)
}

// openAllowed opens a ticket for each opening.
func (s *Store) openAllowed(ctx context.Context, tx pgx.Tx, list []opening, now time.Time) error {
	if len(list) == 0 {
		return nil
	}
	customers, err := upsertSenders(ctx, tx, list, now)
	if err != nil {
		return err
	}
	drafts, err := s.draftTickets(ctx, tx, list, customers, now)
	if err != nil {
		return err
	}
	if err := insertTickets(ctx, tx, drafts, now); err != nil {
		return err
	}
	if err := writeOpeningThreads(ctx, tx, drafts, now); err != nil {
		return err
	}
	for _, d := range drafts {
		if err := addCollaborators(ctx, tx, d.ticket.ID, d.customer.id, d.msg.Cc, now); err != nil {
			return err
		}
		if d.route.assigneeID == nil && d.route.teamID != nil {
			if err := roundRobin(ctx, tx, d.ticket, *d.route.teamID, now); err != nil {
				return err
			}
		}
		*d.result = IngestResult{Ticket: d.ticket.Number, Created: true, Action: "new ticket"}
		if d.linked != 0 {
			d.result.Action = "new ticket (linked to a ticket closed too long ago)"
		}
	}
	return s.mailNewTickets(ctx, tx, drafts, now)
}

// upsertSenders records each sender as a customer. The name is the one the
// customer's latest mail gives, so nobody who wrote first (or put the
// address on a Cc line) fixes it for good.
func upsertSenders(ctx context.Context, tx pgx.Tx, list []opening, now time.Time) (map[string]customerRow, error) {
	var emails, names []string
	index := map[string]int{}
	for _, o := range list {
		e := o.msg.From.Email
		if i, seen := index[e]; seen {
			if o.msg.From.Name != "" {
				names[i] = o.msg.From.Name
			}
			continue
		}
		index[e] = len(emails)
		emails, names = append(emails, e), append(names, o.msg.From.Name)
	}
	rows, err := tx.Query(ctx, `
		INSERT INTO customers (email, name, created_at) SELECT e, n, $3 FROM unnest($1::text[], $2::text[]) AS u(e, n)
		ON CONFLICT (email) DO UPDATE SET name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE customers.name END
		RETURNING id, email, name, undeliverable_at IS NOT NULL`, emails, names, now)
	if err != nil {
		return nil, fmt.Errorf("upsert customers: %w", err)
	}
	customers := map[string]customerRow{}
	for rows.Next() {
		var c customerRow
		var e string
		if err := rows.Scan(&c.id, &e, &c.name, &c.undeliverable); err != nil {
			rows.Close()
			return nil, fmt.Errorf("upsert customers: %w", err)
		}
		customers[e] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("upsert customers: %w", err)
	}
	return customers, nil
}

// draftTickets decides each new ticket from its message, its help topic's
// route and plan; it writes nothing.
func (s *Store) draftTickets(ctx context.Context, tx pgx.Tx, list []opening, customers map[string]customerRow, now time.Time) ([]*draft, error) {
	cache := &routeCache{tx: tx, routes: map[string]route{}}
	drafts := make([]*draft, len(list))
	for i, o := range list {
		r, p, err := cache.get(ctx, o.msg.Topic)
		if err != nil {
			return nil, err
		}
		c := customers[o.msg.From.Email]
		root := o.msg.MessageID
		if root == "" {
			root = s.newMessageID(0)
		}
		d := &draft{opening: o, route: r, customer: c}
		d.ticket = &Ticket{Subject: CleanSubject(o.msg.Subject), Status: StatusOpen, Priority: r.priority, HelpTopic: r.topic,
			SLAPlan: r.sla, Team: r.team, Assignee: r.assignee, RootMessageID: root, CreatedAt: now, UpdatedAt: now, Mailbox: o.msg.Mailbox,
			Customer: Address{Name: c.name, Email: o.msg.From.Email}, customerID: c.id}
		if r.teamID != nil {
			d.ticket.teamID = *r.teamID
		}
		if r.assigneeID != nil {
			d.ticket.assigneeID = *r.assigneeID
		}
		if p != nil {
			clk := clock{since: &now}
			d.frDue, d.resDue = clk.when(p, p.firstResponse), clk.when(p, p.resolution)
			_, d.next = clk.next(p, nil)
			d.ticket.FirstResponseDue, d.ticket.ResolutionDue = d.frDue, d.resDue
		}
		drafts[i] = d
	}
	return drafts, nil
}

// insertTickets writes the drafted tickets and gives each its id and number.
func insertTickets(ctx context.Context, tx pgx.Tx, drafts []*draft, now time.Time) error {
	n := len(drafts)
	subj, prio, mailbox, root := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	custID, linked := make([]int64, n), make([]int64, n)
	topicID, deptID, teamID, assigneeID, slaID := make([]*int64, n), make([]*int64, n), make([]*int64, n), make([]*int64, n), make([]*int64, n)
	frDue, resDue, next := make([]*time.Time, n), make([]*time.Time, n), make([]*time.Time, n)
	for i, d := range drafts {
		r := d.route
		subj[i], prio[i], mailbox[i], root[i] = d.ticket.Subject, string(r.priority), d.msg.Mailbox, d.ticket.RootMessageID
		custID[i], linked[i] = d.customer.id, d.linked
		topicID[i], deptID[i], teamID[i], assigneeID[i], slaID[i] = r.topicID, r.departmentID, r.teamID, r.assigneeID, r.slaID
		frDue[i], resDue[i], next[i] = d.frDue, d.resDue, d.next
	}
	rows, err := tx.Query(ctx, `
		INSERT INTO tickets (subject, priority, customer_id, help_topic_id, department_id, team_id, assignee_id, sla_plan_id,
			mailbox, root_message_id, linked_ticket_id, created_at, updated_at, sla_clock_since, first_response_due,
			resolution_due, next_escalation_at)
		SELECT s, p, c, h, d, tm, a, sla, mb, r, nullif(l, 0), $15, $15, CASE WHEN sla IS NULL THEN NULL ELSE $15::timestamptz END,
			fr, res, nx
		FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[],
			$9::text[], $10::text[], $11::bigint[], $12::timestamptz[], $13::timestamptz[], $14::timestamptz[])
			WITH ORDINALITY AS u(s, p, c, h, d, tm, a, sla, mb, r, l, fr, res, nx, ord)
		ORDER BY ord
		RETURNING id, number`,
		subj, prio, custID, topicID, deptID, teamID, assigneeID, slaID, mailbox, root, linked, frDue, resDue, next, now)
	if err != nil {
		return fmt.Errorf("create tickets: %w", err)
	}
	// Numbers come from a sequence in insertion order, which ORDER BY ord
	// fixes; RETURNING gives the rows back in that order too.
	i := 0
	for rows.Next() {
		if err := rows.Scan(&drafts[i].ticket.ID, &drafts[i].ticket.Number); err != nil {
			rows.Close()
			return fmt.Errorf("create tickets: %w", err)
		}
		i++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("create tickets: %w", err)
	}
	if i != n {
		return fmt.Errorf("create tickets: %d of %d created", i, n)
	}
	return nil
}

// writeOpeningThreads links the messages to their tickets, remembers their
// Message-IDs and writes each thread's first entries: created, routed, and
// the customer's message.
func writeOpeningThreads(ctx context.Context, tx pgx.Tx, drafts []*draft, now time.Time) error {
	var msgRefs, ticketIDs []int64
	var roots []string
	var b entryBatch
	for _, d := range drafts {
		t := d.ticket
		msgRefs, ticketIDs, roots = append(msgRefs, d.ref), append(ticketIDs, t.ID), append(roots, t.RootMessageID)
		created := d.route.createdData()
		if d.linked != 0 {
			var old int64
			if err := tx.QueryRow(ctx, `SELECT number FROM tickets WHERE id = $1`, d.linked).Scan(&old); err != nil {
				return fmt.Errorf("number of linked ticket: %w", err)
			}
			created["linked_ticket"] = old
		}
		if err := b.add(t.ID, entry{kind: EntryEvent, event: EventCreated, customerID: d.customer.id, data: created}); err != nil {
			return err
		}
		if d.route.topic != "" {
			if err := b.add(t.ID, entry{kind: EntryEvent, event: EventRouted, data: d.route.routedData(d.msg.RouteRule)}); err != nil {
				return err
			}
		}
		if err := b.add(t.ID, entry{kind: EntryMessage, customerID: d.customer.id, body: d.msg.Text, messageRef: d.ref}); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE messages m SET ticket_id = u.t FROM unnest($1::bigint[], $2::bigint[]) AS u(id, t) WHERE m.id = u.id`,
		msgRefs, ticketIDs); err != nil {
		return fmt.Errorf("link messages: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO thread_ids (message_id, ticket_id) SELECT * FROM unnest($1::text[], $2::bigint[])
		ON CONFLICT DO NOTHING`, roots, ticketIDs); err != nil {
		return fmt.Errorf("remember message ids: %w", err)
	}
	return b.insert(ctx, tx, now)
}

// entryBatch collects thread entries to write in one statement.
type entryBatch struct {
	ticket, customer, ref []int64
	kind, event, body     []string
	data                  []string
}

func (b *entryBatch) add(ticketID int64, e entry) error {
	d, err := jsonText(e.data)
	if err != nil {
		return err
	}
	b.ticket, b.customer, b.ref = append(b.ticket, ticketID), append(b.customer, e.customerID), append(b.ref, e.messageRef)
	b.kind, b.event, b.body, b.data = append(b.kind, string(e.kind)), append(b.event, e.event), append(b.body, e.body), append(b.data, d)
	return nil
}

func (b *entryBatch) insert(ctx context.Context, tx pgx.Tx, now time.Time) error {
	if len(b.ticket) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO entries (ticket_id, kind, event, customer_id, body, data, message_ref, created_at)
		SELECT t, k, e, nullif(c, 0), b, d::jsonb, nullif(r, 0), $8
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bigint[])
			WITH ORDINALITY AS u(t, k, e, c, b, d, r, ord)
		ORDER BY ord`,
		b.ticket, b.kind, b.event, b.customer, b.body, b.data, b.ref, now); err != nil {
		return fmt.Errorf("write thread entries: %w", err)
	}
	return nil
}

// addCollaborators puts a new ticket's Cc addresses on it. A Cc line never
// names a customer: only their own mail does (see upsertSenders).
func addCollaborators(ctx context.Context, tx pgx.Tx, ticketID, customerID int64, cc []Address, now time.Time) error {
	var emails []string
	for _, a := range cc {
		if a.Email != "" {
			emails = append(emails, a.Email)
		}
	}
	if len(emails) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `
		WITH c AS (
			INSERT INTO customers (email, name, created_at) SELECT DISTINCT e, '', $3::timestamptz FROM unnest($2::text[]) AS u(e)
			ON CONFLICT (email) DO UPDATE SET email = excluded.email RETURNING id)
		INSERT INTO ticket_collaborators (ticket_id, customer_id) SELECT $1, id FROM c WHERE id <> $4
		ON CONFLICT DO NOTHING`, ticketID, emails, now, customerID); err != nil {
		return fmt.Errorf("add collaborators to ticket %d: %w", ticketID, err)
	}
	return nil
}

// mailNewTickets queues each new ticket's acknowledgement, under the
// customer-mail brakes, and its new-ticket alerts.
func (s *Store) mailNewTickets(ctx context.Context, tx pgx.Tx, drafts []*draft, now time.Time) error {
	var senders []string
	for _, d := range drafts {
		if !d.msg.Quiet {
			senders = append(senders, d.ticket.Customer.Email)
		}
	}
	if len(senders) == 0 {
		return nil
	}
	recent, err := s.recentMail(ctx, tx, senders, now)
	if err != nil {
		return err
	}
	opened, err := s.ticketsOpenedRecently(ctx, tx, drafts, now)
	if err != nil {
		return err
	}
	refs := make([]int64, len(drafts))
	for i, d := range drafts {
		refs[i] = d.ref
	}
	files, err := filesOf(ctx, tx, refs)
	if err != nil {
		return err
	}
	var mails []outboxRow
	var events entryBatch
	var alert alertees
	for _, d := range drafts {
		m, t := d.msg, d.ticket
		if m.Quiet {
			continue
		}
		reason := s.ackBrake(d.customer.undeliverable, recent[t.Customer.Email])
		if m.Forged != "" {
			reason = "sender likely forged (" + m.Forged + "): no acknowledgement, so no backscatter to an innocent address"
		}
		if reason != "" {
			if err := events.add(t.ID, entry{kind: EntryEvent, event: "mail_suppressed",
				data: map[string]any{"to": t.Customer.Email, "template": TemplateAck, "reason": reason}}); err != nil {
				return err
			}
		} else {
			recent[t.Customer.Email] = recent[t.Customer.Email].withAck(now)
			row, err := s.buildRow(outMail{ticket: t, template: TemplateAck, to: t.Customer, inReplyTo: m.MessageID}, now)
			if err != nil {
				return err
			}
			mails = append(mails, row)
		}
		to, err := alert.forNewTicket(ctx, tx, t)
		if err != nil {
			return err
		}
		if opened[t.customerID]++; s.budget.AlertsPerSender > 0 && opened[t.customerID] > s.budget.AlertsPerSender {
			if err := s.queueDigest(ctx, tx, now, to, s.floodDigest(t)); err != nil {
				return err
			}
			continue
		}
		for _, a := range to {
			alert := outMail{ticket: t, template: TemplateNewTicketAlert, to: a.addr, agentID: a.id, inReplyTo: m.MessageID,
				data: MailData{From: m.From.Display(), Body: excerpt(m.Text)}}
			s.withFiles(&alert, d.ref, files[d.ref], now)
			row, err := s.buildRow(alert, now)
			if err != nil {
				return err
			}
			mails = append(mails, row)
		}
	}
	if err := events.insert(ctx, tx, now); err != nil {
		return err
	}
	return insertRows(ctx, tx, mails, now)
}

// ticketsOpenedRecently counts, per customer of the drafts, the tickets they
// opened within the alert window before these.
func (s *Store) ticketsOpenedRecently(ctx context.Context, tx pgx.Tx, drafts []*draft, now time.Time) (map[int64]int, error) {
	var customers, fresh []int64
	for _, d := range drafts {
		customers, fresh = append(customers, d.customer.id), append(fresh, d.ticket.ID)
	}
	rows, err := tx.Query(ctx, `SELECT customer_id, count(*) FROM tickets
		WHERE customer_id = ANY($1) AND created_at > $2 AND NOT id = ANY($3) GROUP BY customer_id`,
		customers, now.Add(-s.budget.AlertWindow), fresh)
	if err != nil {
		return nil, fmt.Errorf("count recent tickets: %w", err)
	}
	defer rows.Close()
	out := map[int64]int{}
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("count recent tickets: %w", err)
		}
		out[id] = n
	}
	return out, rows.Err()
}

// floodDigest gathers the alerts for a sender who opens ticket after
// ticket: the agents hear of the first few one by one, then of the rest in
// one mail per window.
func (s *Store) floodDigest(t *Ticket) digestMail {
	return digestMail{key: "flood:" + t.Customer.Email, template: TemplateSenderFlood,
		data: MailData{Sender: t.Customer.Display(), Limit: s.budget.AlertsPerSender, Window: s.budget.AlertWindow.String()},
		item: fmt.Sprintf("%s %s", t.Tag(), t.Subject), period: s.budget.AlertWindow, firstAfter: s.budget.AlertWindow / 6}
}

// routeCache loads each help topic's routing once per batch.
type routeCache struct {
	tx     pgx.Tx
	routes map[string]route
	plans  map[int64]*plan
}

func (c *routeCache) get(ctx context.Context, topic string) (route, *plan, error) {
	r, ok := c.routes[strings.ToLower(topic)]
	if !ok {
		var err error
		if r, err = loadRoute(ctx, c.tx, topic); err != nil {
			return r, nil, err
		}
		c.routes[strings.ToLower(topic)] = r
	}
	if r.slaID == nil {
		return r, nil, nil
	}
	if c.plans == nil {
		var err error
		if c.plans, err = loadPlans(ctx, c.tx); err != nil {
			return r, nil, err
		}
	}
	return r, c.plans[*r.slaID], nil
}

// forwardedNothing reports commands other than /customer in a forward:
// then it is not a request to open a ticket for the customer.
func forwardedNothing(in *Inbound) bool {
	for _, c := range in.Commands {
		if c.Name != "customer" {
			return true
		}
	}
	return false
}

// EventOpenedFor marks a ticket an agent opened for a customer by
// forwarding their mail.
const EventOpenedFor = "opened_for"

// openForwarded opens a ticket for the customer whose mail an agent
// forwarded to the desk (as an attachment or inline, with /customer or
// without): the customer is the original sender, the agent is named as the
// one who opened it. The customer is acknowledged only when the agent's
// mail proves it is theirs (DKIM/DMARC), since a forged "agent" must not
// make us mail strangers. It reports false for mail not from an agent.
func (s *Store) openForwarded(ctx context.Context, tx pgx.Tx, in *Inbound, msgRef int64, now time.Time, res *IngestResult) (bool, error) {
	agent, err := agentByEmail(ctx, tx, in.From.Email)
	if err != nil || agent == nil {
		return false, err
	}
	fwd := *in
	fwd.From, fwd.Subject, fwd.Text = in.Forwarded.From, in.Forwarded.Subject, in.Forwarded.Text
	fwd.Cc, fwd.Commands, fwd.CommandRest, fwd.ReplyToken = nil, nil, "", ""
	if fwd.Subject == "" {
		fwd.Subject = in.Subject
	}
	if !aligned(agent.email, in.AuthPass) {
		fwd.Forged = "forwarded by " + agent.email + ", whose mail carries no DKIM/DMARC pass"
	}
	if err := s.openTickets(ctx, tx, []opening{{msg: &fwd, ref: msgRef, result: res}}, now); err != nil {
		return true, err
	}
	t, err := ticketByNumber(ctx, tx, res.Ticket, false)
	if err != nil || t == nil {
		return true, err
	}
	res.Action = "new ticket for " + fwd.From.Email + ", forwarded by " + agent.email
	return true, addEntry(ctx, tx, t.ID, entry{kind: EntryEvent, event: EventOpenedFor, agentID: agent.id,
		data: map[string]any{"customer": fwd.From.Email}}, now)
}
