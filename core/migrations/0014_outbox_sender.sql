-- Brands: a ticket's mail goes out from the address it came in on, with
-- its mailbox's name; sender is that From (RFC 5322), empty for the
-- desk's default.
ALTER TABLE outbox ADD COLUMN sender text NOT NULL DEFAULT '';
