-- Spam is stored like any message, with class 'spam' and why in note; an
-- admin may release it into a ticket (released_at). Blocked senders are
-- addresses or "@domain" patterns; their mail is spam. tickets.spam marks a
-- ticket an agent called spam.
ALTER TABLE messages ADD COLUMN note text NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN released_at timestamptz;
CREATE INDEX messages_spam_idx ON messages (id) WHERE class = 'spam' AND released_at IS NULL;
CREATE TABLE blocks (
    pattern    text PRIMARY KEY,
    reason     text NOT NULL DEFAULT '',
    created_by text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL
);
ALTER TABLE tickets ADD COLUMN spam boolean NOT NULL DEFAULT false;
CREATE INDEX tickets_customer_created_idx ON tickets (customer_id, created_at);
CREATE INDEX tickets_created_idx ON tickets (created_at);
