-- Mailboxes the admins were told have stopped polling; the row goes away
-- with the recovery alert. One alert per stall, however many daemons run.
CREATE TABLE stall_alerts (
    mailbox text PRIMARY KEY,
    since   timestamptz NOT NULL
);
