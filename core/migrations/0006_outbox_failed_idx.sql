-- The outbox keeps every mail ever sent; the metrics count only what waits
-- (outbox_due_idx) and what failed, so both must be reachable by index.
CREATE INDEX outbox_failed_idx ON outbox (id) WHERE state = 'failed';
