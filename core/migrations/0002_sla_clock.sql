-- The SLA clock and the escalation ladder.
--
-- A ticket's clock counts business time: sla_clock_base seconds consumed
-- before sla_clock_since, plus the business time since then. While the
-- ticket is in a pausing status (or resolved/closed) sla_clock_since is NULL.
-- next_escalation_at is when the next ladder step is due; the checker finds
-- due tickets through its index, so a tick costs what is due, not what is open.
ALTER TABLE tickets
    ADD COLUMN sla_clock_base     bigint NOT NULL DEFAULT 0,
    ADD COLUMN sla_clock_since    timestamptz,
    ADD COLUMN next_escalation_at timestamptz;

CREATE INDEX tickets_next_escalation_idx ON tickets (next_escalation_at)
    WHERE next_escalation_at IS NOT NULL;

-- Each (ticket, plan, step) fires once, even with two checkers or a crash.
CREATE TABLE sla_fired (
    ticket_id   bigint NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    sla_plan_id bigint NOT NULL REFERENCES sla_plans(id),
    step        int NOT NULL,
    fired_at    timestamptz NOT NULL,
    PRIMARY KEY (ticket_id, sla_plan_id, step)
);
