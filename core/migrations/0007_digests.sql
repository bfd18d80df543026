-- Digest mails gather events of one kind for one recipient (quarantined
-- messages, a sender opening ticket after ticket): while such a mail waits
-- to go, new events are added to it instead of becoming mails of their own.
ALTER TABLE outbox ADD COLUMN digest_key text NOT NULL DEFAULT '';
CREATE INDEX outbox_digest_idx ON outbox (digest_key, to_email, created_at) WHERE digest_key <> '';
