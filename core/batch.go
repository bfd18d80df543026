package core

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// IngestBatch stores messages exactly once in one transaction and advances
// the checkpoint (cp, if set) to the batch's last UID; one message is a batch
// of one. Each message is threaded onto a ticket (or opens one), its thread
// entries and events written and the mail it causes queued. Results are the
// same as for one batch per message, in order: messages that plainly open a
// ticket (human mail referring to nothing known) go first, together; the
// rest (replies, agents, machine mail) are threaded one by one after them,
// so a reply finds a ticket opened earlier in the batch. Either way a new
// ticket is opened by openTickets.
func (s *Store) IngestBatch(ctx context.Context, msgs []*Inbound, cp *Checkpoint, now time.Time) ([]IngestResult, error) {
	for _, m := range msgs {
		m.Sanitize()
	}
	var results []IngestResult
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		results, err = s.ingest(ctx, tx, msgs, cp, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ingest batch of %d: %w", len(msgs), err)
	}
	return results, nil
}

// ingest is IngestBatch inside the caller's transaction, on sanitised messages.
func (s *Store) ingest(ctx context.Context, tx pgx.Tx, msgs []*Inbound, cp *Checkpoint, now time.Time) ([]IngestResult, error) {
	results := make([]IngestResult, len(msgs))
	if cp != nil {
		if err := saveCheckpoint(ctx, tx, *cp, now); err != nil {
			return nil, err
		}
	}
	if err := markBlocked(ctx, tx, msgs); err != nil {
		return nil, err
	}
	refs, err := storeMessages(ctx, tx, msgs, now)
	if err != nil {
		return nil, err
	}
	fast, slow, err := s.splitBatch(ctx, tx, msgs, refs)
	if err != nil {
		return nil, err
	}
	for i := range msgs {
		if refs[i] == 0 {
			results[i] = IngestResult{Duplicate: true, Action: "duplicate: already stored"}
		}
	}
	opened := make([]opening, len(fast))
	for j, i := range fast {
		opened[j] = opening{msg: msgs[i], ref: refs[i], result: &results[i]}
	}
	if err := s.openTickets(ctx, tx, opened, now); err != nil {
		return nil, err
	}
	for _, i := range slow {
		if err := s.thread(ctx, tx, msgs[i], refs[i], now, &results[i]); err != nil {
			return nil, err
		}
	}
	return results, nil
}

// storeMessages inserts the raw messages under their unique keys and
// returns each one's id, or 0 for a duplicate (also within the batch).
func storeMessages(ctx context.Context, tx pgx.Tx, msgs []*Inbound, now time.Time) ([]int64, error) {
	n := len(msgs)
	keys, ids, mailboxes, classes, notes := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	raws := make([][]byte, 0, n)
	first := map[string]int{}
	for i, m := range msgs {
		k := m.Key()
		if _, seen := first[k]; seen {
			continue
		}
		first[k] = i
		keys, ids, mailboxes, classes = append(keys, k), append(ids, m.MessageID), append(mailboxes, m.Mailbox), append(classes, string(m.Class))
		notes = append(notes, m.Note)
		raws = append(raws, firstChunk(m.Raw))
	}
	rows, err := tx.Query(ctx, `
		INSERT INTO messages (message_key, message_id, mailbox, class, raw, received_at, note)
		SELECT k, mid, mb, cl, raw, $6, nt FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[], $7::text[])
			AS u(k, mid, mb, cl, raw, nt)
		ON CONFLICT (message_key) DO NOTHING RETURNING message_key, id`, keys, ids, mailboxes, classes, raws, now, notes)
	if err != nil {
		return nil, fmt.Errorf("store messages: %w", err)
	}
	refs := make([]int64, n)
	for rows.Next() {
		var k string
		var id int64
		if err := rows.Scan(&k, &id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store messages: read ids: %w", err)
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

// splitBatch sorts the stored messages into those that plainly open a
// ticket (human mail from a customer, referring to nothing we know) and
// those to thread one by one.
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
		froms = append(froms, m.From.Email)
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
		UNION ALL SELECT 'agent:' || email FROM agents WHERE email = ANY($3)`, ids, tags, froms)
	if err != nil {
		return nil, nil, fmt.Errorf("classify batch: %w", err)
	}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("classify batch: %w", err)
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
		simple := m.Class == ClassHuman && m.ReplyToken == "" && len(m.Undeliverable) == 0 &&
			!known["agent:"+m.From.Email] && suppressed(m.From.Email) == ""
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
