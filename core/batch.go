package core

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// IngestBatch stores several messages exactly once in one transaction and
// advances the checkpoint (cp, if set) to the batch's last UID. It gives the
// same results as calling Ingest on each in order, faster: the common case,
// a new ticket from a customer, is written for the whole batch in a handful
// of statements; anything else (replies, agents, machine mail, Cc, round
// robin) takes the one-message path inside the same transaction, after the
// new tickets, so a reply threads onto a ticket opened earlier in the batch.
func (s *Store) IngestBatch(ctx context.Context, msgs []*Inbound, cp *Checkpoint, now time.Time) ([]IngestResult, error) {
	var results []IngestResult
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		results = make([]IngestResult, len(msgs))
		if cp != nil {
			if err := saveCheckpoint(ctx, tx, *cp, now); err != nil {
				return err
			}
		}
		refs, err := storeMessages(ctx, tx, msgs, now)
		if err != nil {
			return err
		}
		fast, slow, err := s.splitBatch(ctx, tx, msgs, refs)
		if err != nil {
			return err
		}
		for i := range msgs {
			if refs[i] == 0 {
				results[i] = IngestResult{Duplicate: true, Action: "duplicate: already stored"}
			}
		}
		if err := s.openTickets(ctx, tx, msgs, refs, fast, results, now); err != nil {
			return err
		}
		for _, i := range slow {
			if err := s.thread(ctx, tx, msgs[i], refs[i], now, &results[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ingest batch of %d: %w", len(msgs), err)
	}
	return results, nil
}

// storeMessages inserts the raw messages under their unique keys and
// returns each one's id, or 0 for a duplicate (also within the batch).
func storeMessages(ctx context.Context, tx pgx.Tx, msgs []*Inbound, now time.Time) ([]int64, error) {
	n := len(msgs)
	keys, ids, mailboxes, classes := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	raws := make([][]byte, 0, n)
	first := map[string]int{}
	for i, m := range msgs {
		k := m.Key()
		if _, seen := first[k]; seen {
			continue
		}
		first[k] = i
		keys, ids, mailboxes, classes = append(keys, k), append(ids, m.MessageID), append(mailboxes, m.Mailbox), append(classes, string(m.Class))
		raws = append(raws, firstChunk(m.Raw))
	}
	rows, err := tx.Query(ctx, `
		INSERT INTO messages (message_key, message_id, mailbox, class, raw, received_at)
		SELECT k, mid, mb, cl, raw, $6 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[]) AS u(k, mid, mb, cl, raw)
		ON CONFLICT (message_key) DO NOTHING RETURNING message_key, id`, keys, ids, mailboxes, classes, raws, now)
	if err != nil {
		return nil, fmt.Errorf("store messages: %w", err)
	}
	refs := make([]int64, n)
	for rows.Next() {
		var k string
		var id int64
		if err := rows.Scan(&k, &id); err != nil {
			rows.Close()
			return nil, err
		}
		refs[first[k]] = id
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store messages: %w", err)
	}
	for i, m := range msgs {
		if refs[i] != 0 {
			if err := appendRaw(ctx, tx, refs[i], m.Raw); err != nil {
				return nil, err
			}
		}
	}
	var aRef []int64
	var aName, aType []string
	var aSize []int64
	var aInline []bool
	for i, m := range msgs {
		for _, a := range m.Attach {
			if refs[i] != 0 {
				aRef, aName, aType, aSize, aInline = append(aRef, refs[i]), append(aName, a.Filename), append(aType, a.ContentType),
					append(aSize, a.Size), append(aInline, a.Inline)
			}
		}
	}
	if len(aRef) > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO attachments (message_ref, filename, content_type, size, inline)
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bool[])`,
			aRef, aName, aType, aSize, aInline); err != nil {
			return nil, fmt.Errorf("store attachments: %w", err)
		}
	}
	return refs, nil
}

// splitBatch sorts the stored messages into the fast path (a new ticket
// from a customer, nothing to thread onto) and the one-message path.
func (s *Store) splitBatch(ctx context.Context, tx pgx.Tx, msgs []*Inbound, refs []int64) (fast, slow []int, err error) {
	var ids, froms []string
	var tags []int64
	batchIDs := map[string]bool{}
	for i, m := range msgs {
		if refs[i] == 0 {
			continue
		}
		ids = append(ids, m.InReplyTo...)
		ids = append(ids, m.References...)
		froms = append(froms, strings.ToLower(m.From.Email))
		if n, ok := ParseSubjectTag(m.Subject); ok {
			tags = append(tags, n)
		}
		if m.MessageID != "" {
			batchIDs[m.MessageID] = true
		}
	}
	known := map[string]bool{}
	rows, err := tx.Query(ctx, `
		SELECT message_id FROM thread_ids WHERE message_id = ANY($1)
		UNION ALL SELECT message_id FROM outbox WHERE message_id = ANY($1)
		UNION ALL SELECT 'tag:' || number FROM tickets WHERE number = ANY($2)
		UNION ALL SELECT 'agent:' || email FROM agents WHERE email = ANY($3)
		UNION ALL SELECT 'rr:' || h.name FROM help_topics h JOIN teams t ON t.id = h.team_id
			WHERE t.auto_assign AND h.assignee_id IS NULL`, ids, tags, froms)
	if err != nil {
		return nil, nil, fmt.Errorf("classify batch: %w", err)
	}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return nil, nil, err
		}
		known[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	for i, m := range msgs {
		if refs[i] == 0 {
			continue
		}
		simple := m.Class == ClassHuman && m.ReplyToken == "" && len(m.Cc) == 0 && len(m.Undeliverable) == 0 &&
			!known["agent:"+strings.ToLower(m.From.Email)] && !known["rr:"+m.Topic]
		if n, ok := ParseSubjectTag(m.Subject); ok && known[fmt.Sprintf("tag:%d", n)] {
			simple = false
		}
		for _, id := range append(append([]string{}, m.InReplyTo...), m.References...) {
			if known[id] || batchIDs[id] {
				simple = false
			}
		}
		if simple {
			fast = append(fast, i)
		} else {
			slow = append(slow, i)
		}
	}
	return fast, slow, nil
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

// openTickets writes the fast path: customers, tickets with their SLA clocks,
// thread entries, Message-IDs and mail, each kind in one statement.
func (s *Store) openTickets(ctx context.Context, tx pgx.Tx, msgs []*Inbound, refs []int64, fast []int, results []IngestResult, now time.Time) error {
	if len(fast) == 0 {
		return nil
	}
	// Customers, each email once.
	var emails, names []string
	seen := map[string]bool{}
	for _, i := range fast {
		e := strings.ToLower(strings.TrimSpace(msgs[i].From.Email))
		if !seen[e] {
			seen[e] = true
			emails, names = append(emails, e), append(names, msgs[i].From.Name)
		}
	}
	rows, err := tx.Query(ctx, `
		INSERT INTO customers (email, name, created_at) SELECT e, n, $3 FROM unnest($1::text[], $2::text[]) AS u(e, n)
		ON CONFLICT (email) DO UPDATE SET name = CASE WHEN customers.name = '' THEN excluded.name ELSE customers.name END
		RETURNING id, email, name, undeliverable_at IS NOT NULL`, emails, names, now)
	if err != nil {
		return fmt.Errorf("upsert customers: %w", err)
	}
	type cust struct {
		id            int64
		name          string
		undeliverable bool
	}
	customers := map[string]cust{}
	for rows.Next() {
		var c cust
		var e string
		if err := rows.Scan(&c.id, &e, &c.name, &c.undeliverable); err != nil {
			rows.Close()
			return err
		}
		customers[e] = c
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("upsert customers: %w", err)
	}

	// Tickets, with due times computed here from the plan.
	cache := &routeCache{tx: tx, routes: map[string]route{}}
	n := len(fast)
	tickets := make([]*Ticket, n)
	rts := make([]route, n)
	subj, prio, mailbox, root := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	custID, topicID, deptID, teamID, assigneeID, slaID := make([]int64, n), make([]*int64, n), make([]*int64, n), make([]*int64, n), make([]*int64, n), make([]*int64, n)
	frDue, resDue, next := make([]*time.Time, n), make([]*time.Time, n), make([]*time.Time, n)
	for j, i := range fast {
		m := msgs[i]
		r, p, err := cache.get(ctx, m.Topic)
		if err != nil {
			return err
		}
		rts[j] = r
		c := customers[strings.ToLower(strings.TrimSpace(m.From.Email))]
		root[j] = m.MessageID
		if root[j] == "" {
			root[j] = s.newMessageID(0)
		}
		subj[j], prio[j], mailbox[j], custID[j] = CleanSubject(m.Subject), string(r.priority), m.Mailbox, c.id
		topicID[j], deptID[j], teamID[j], assigneeID[j], slaID[j] = r.topicID, r.departmentID, r.teamID, r.assigneeID, r.slaID
		t := &Ticket{Subject: subj[j], Status: StatusOpen, Priority: r.priority, HelpTopic: r.topic, SLAPlan: r.sla, Team: r.team,
			Assignee: r.assignee, RootMessageID: root[j], Customer: Address{Name: c.name, Email: strings.ToLower(m.From.Email)}}
		if c.name == "" {
			t.Customer.Name = m.From.Name
		}
		if r.teamID != nil {
			t.teamID = *r.teamID
		}
		if r.assigneeID != nil {
			t.assigneeID = *r.assigneeID
		}
		if p != nil {
			clk := clock{since: &now}
			frDue[j], resDue[j] = clk.when(p, p.firstResponse), clk.when(p, p.resolution)
			_, next[j] = clk.next(p, nil)
			t.FirstResponseDue, t.ResolutionDue = frDue[j], resDue[j]
		}
		tickets[j] = t
	}
	rows, err = tx.Query(ctx, `
		INSERT INTO tickets (subject, priority, customer_id, help_topic_id, department_id, team_id, assignee_id, sla_plan_id,
			mailbox, root_message_id, created_at, updated_at, sla_clock_since, first_response_due, resolution_due, next_escalation_at)
		SELECT s, p, c, h, d, tm, a, sla, mb, r, $14, $14, CASE WHEN sla IS NULL THEN NULL ELSE $14::timestamptz END, fr, res, nx
		FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[],
			$9::text[], $10::text[], $11::timestamptz[], $12::timestamptz[], $13::timestamptz[])
			AS u(s, p, c, h, d, tm, a, sla, mb, r, fr, res, nx)
		RETURNING id, number, root_message_id`,
		subj, prio, custID, topicID, deptID, teamID, assigneeID, slaID, mailbox, root, frDue, resDue, next, now)
	if err != nil {
		return fmt.Errorf("create tickets: %w", err)
	}
	byRoot := map[string]*Ticket{}
	for j := range tickets {
		byRoot[root[j]] = tickets[j]
	}
	for rows.Next() {
		var id, number int64
		var r string
		if err := rows.Scan(&id, &number, &r); err != nil {
			rows.Close()
			return err
		}
		t := byRoot[r]
		t.ID, t.Number, t.CreatedAt, t.UpdatedAt = id, number, now, now
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("create tickets: %w", err)
	}

	// Messages to tickets, Message-IDs, and the thread: created, routed, message.
	var msgRefs, ticketIDs, eTicket, eCust []int64
	var eKind, eEvent, eBody, eData []string
	var eRef []int64
	addEntry := func(t *Ticket, kind EntryKind, event string, cust int64, body string, data map[string]any, ref int64) error {
		d, err := jsonText(data)
		eTicket, eKind, eEvent, eCust, eBody, eData, eRef = append(eTicket, t.ID), append(eKind, string(kind)), append(eEvent, event),
			append(eCust, cust), append(eBody, body), append(eData, d), append(eRef, ref)
		return err
	}
	var mails []outboxRow
	var alert alertees
	sentTo := map[string]int{}
	if err := s.budgetCounts(ctx, tx, emails, now, sentTo); err != nil {
		return err
	}
	for j, i := range fast {
		m, t, r := msgs[i], tickets[j], rts[j]
		msgRefs, ticketIDs = append(msgRefs, refs[i]), append(ticketIDs, t.ID)
		if err := addEntry(t, EntryEvent, EventCreated, custID[j], "", r.createdData(), 0); err != nil {
			return err
		}
		if r.topic != "" {
			if err := addEntry(t, EntryEvent, EventRouted, 0, "", r.routedData(m.RouteRule), 0); err != nil {
				return err
			}
		}
		if err := addEntry(t, EntryMessage, "", custID[j], m.Text, nil, refs[i]); err != nil {
			return err
		}
		results[i] = IngestResult{Ticket: t.Number, Created: true, Action: "new ticket"}
		if m.Quiet {
			continue
		}
		// The acknowledgement, under the same brakes as the one-message path.
		c := customers[t.Customer.Email]
		reason := suppressed(t.Customer.Email)
		if reason == "" {
			reason = s.brakeReason(c.undeliverable, true, sentTo[t.Customer.Email], 0)
		}
		if reason != "" {
			if err := addEntry(t, EntryEvent, "mail_suppressed", 0, "", map[string]any{"to": t.Customer.Email, "template": TemplateAck, "reason": reason}, 0); err != nil {
				return err
			}
		} else {
			sentTo[t.Customer.Email]++
			row, err := s.buildRow(outMail{ticket: t, template: TemplateAck, to: t.Customer, inReplyTo: m.MessageID, data: nil}, now)
			if err != nil {
				return err
			}
			mails = append(mails, row)
		}
		// The new-ticket alert, to the same people as on the one-message path.
		to, err := alert.forNewTicket(ctx, tx, t)
		if err != nil {
			return err
		}
		for _, a := range to {
			row, err := s.buildRow(outMail{ticket: t, template: TemplateNewTicketAlert, to: a.addr, agentID: a.id, inReplyTo: m.MessageID,
				data: map[string]any{"From": m.From.String(), "Body": excerpt(m.Text)}}, now)
			if err != nil {
				return err
			}
			mails = append(mails, row)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE messages m SET ticket_id = u.t FROM unnest($1::bigint[], $2::bigint[]) AS u(id, t) WHERE m.id = u.id`,
		msgRefs, ticketIDs); err != nil {
		return fmt.Errorf("link messages: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO thread_ids (message_id, ticket_id) SELECT * FROM unnest($1::text[], $2::bigint[])
		ON CONFLICT DO NOTHING`, root, ticketIDsOf(tickets)); err != nil {
		return fmt.Errorf("remember message ids: %w", err)
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO entries (ticket_id, kind, event, customer_id, body, data, message_ref, created_at)
		SELECT t, k, e, nullif(c, 0), b, d::jsonb, nullif(r, 0), $8
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bigint[]) AS u(t, k, e, c, b, d, r)`,
		eTicket, eKind, eEvent, eCust, eBody, eData, eRef, now); err != nil {
		return fmt.Errorf("write thread entries: %w", err)
	}
	return insertRows(ctx, tx, mails, now)
}

func ticketIDsOf(ts []*Ticket) []int64 {
	out := make([]int64, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

// budgetCounts counts the recent automatic mail to each address.
func (s *Store) budgetCounts(ctx context.Context, tx pgx.Tx, emails []string, now time.Time, into map[string]int) error {
	if s.budget.PerRecipient <= 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT to_email, count(*) FROM outbox WHERE to_email = ANY($1) AND created_at > $2
		AND template <> 'response' GROUP BY to_email`, emails, now.Add(-s.budget.Window))
	if err != nil {
		return fmt.Errorf("count recent mail: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e string
		var c int
		if err := rows.Scan(&e, &c); err != nil {
			return err
		}
		into[e] = c
	}
	return rows.Err()
}
