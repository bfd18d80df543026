-- A mail to a ticket's customer carries its collaborators in Cc, one mail
-- for all, as osTicket does: their addresses, RFC 5322, comma-separated.
ALTER TABLE outbox ADD COLUMN cc text NOT NULL DEFAULT '';
