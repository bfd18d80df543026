-- /merge folds a ticket into another (merged_into points at it; its thread,
-- mail and collaborators move there); /link relates two tickets both ways.
ALTER TABLE tickets ADD COLUMN merged_into bigint REFERENCES tickets(id);
CREATE TABLE ticket_links (
    ticket_id bigint NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    linked_id bigint NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    PRIMARY KEY (ticket_id, linked_id)
);
