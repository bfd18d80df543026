-- Reports read a period's thread events and open tickets; these keep them
-- from walking every entry or ticket when there are millions.
CREATE INDEX entries_report_idx ON entries (created_at)
    WHERE kind = 'response' OR event IN ('resolved', 'reopened', 'overdue', 'escalated', 'sla_warning');
CREATE INDEX tickets_open_created_idx ON tickets (created_at) WHERE status IN ('open', 'pending');
