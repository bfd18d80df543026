-- The bare address of each outbox recipient, for the automatic-mail budget
-- (per recipient and per ticket, per window) and undeliverable marking.
ALTER TABLE outbox ADD COLUMN to_email text NOT NULL DEFAULT '';
CREATE INDEX outbox_to_email_idx ON outbox (to_email, created_at);
CREATE INDEX outbox_ticket_idx ON outbox (ticket_id, created_at);
