-- OAuth2 grants of the mailboxes and the SMTP account, sealed with the
-- desk's secret: a refresh token opens a mailbox, so a database dump alone
-- must not. The row is locked while one daemon refreshes it.
CREATE TABLE oauth_tokens (
    account    text PRIMARY KEY,
    sealed     bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
