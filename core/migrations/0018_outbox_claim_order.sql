-- Senders claim the oldest due mail in (next_attempt_at, id) order. With
-- the index on next_attempt_at alone, every claim of a few mails sorted all
-- the due ones: with a backlog of 24,000 (a drain after an outage) that was
-- most of PostgreSQL's work. In index order a claim stops after a few.
DROP INDEX outbox_due_idx;
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at, id) WHERE state = 'pending';
