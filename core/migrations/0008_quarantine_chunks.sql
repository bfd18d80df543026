-- A message too large to take in is spooled into quarantine in chunks as it
-- is read, so no process ever holds it whole; quarantine.raw then holds
-- nothing and the chunks, in seq order, are the message.
CREATE TABLE quarantine_chunks (
    quarantine_id bigint NOT NULL REFERENCES quarantine(id) ON DELETE CASCADE,
    seq           int NOT NULL,
    data          bytea NOT NULL,
    PRIMARY KEY (quarantine_id, seq)
);
