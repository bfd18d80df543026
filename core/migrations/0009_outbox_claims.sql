-- A claim is a lease with an owner: claim_token names the claim a sender
-- holds, and a sender records a result only while its token is still the
-- row's (a sender whose lease ran out cannot mark a resent mail as its own).
-- deferred_since is when a peer first answered 4xx: only such answers count
-- toward the mail's lifetime, never our own connection failures.
ALTER TABLE outbox ADD COLUMN claim_token bigint NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN deferred_since timestamptz;
