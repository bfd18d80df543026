-- ticket list pages newest first (ORDER BY number DESC LIMIT n) under each
-- filter; each index serves one filter, alone or with a status, without
-- walking every ticket.
CREATE INDEX tickets_assignee_number_idx ON tickets (assignee_id, number);
CREATE INDEX tickets_team_number_idx ON tickets (team_id, number);
CREATE INDEX tickets_customer_number_idx ON tickets (customer_id, number);
CREATE INDEX tickets_overdue_number_idx ON tickets (number) WHERE overdue;
