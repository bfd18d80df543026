-- The schema of the first release (f7e76b6, migrations 0001-0006), taken
-- from git history: the database an upgrade starts from.
-- core/migrations/0001_init.sql
-- The whole domain in one go: directory, tickets, thread, raw mail, outbox,
-- intake checkpoints and quarantine. Later migrations add to it.

CREATE TABLE departments (
    id   bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE
);

CREATE TABLE teams (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL UNIQUE,
    department_id bigint REFERENCES departments(id),
    -- round-robin assignment of new tickets among members who are not away
    auto_assign   boolean NOT NULL DEFAULT false,
    last_assignee bigint
);

CREATE TABLE agents (
    id     bigserial PRIMARY KEY,
    email  text NOT NULL UNIQUE CHECK (email = lower(email)),
    name   text NOT NULL,
    role   text NOT NULL CHECK (role IN ('admin', 'agent')),
    away   boolean NOT NULL DEFAULT false,
    active boolean NOT NULL DEFAULT true
);

CREATE TABLE agent_teams (
    agent_id bigint NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    team_id  bigint NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    PRIMARY KEY (agent_id, team_id)
);

CREATE TABLE sla_plans (
    id                      bigserial PRIMARY KEY,
    name                    text NOT NULL UNIQUE,
    first_response_seconds  bigint NOT NULL CHECK (first_response_seconds > 0),
    resolution_seconds      bigint NOT NULL CHECK (resolution_seconds > 0),
    -- schedule, pausing statuses and escalation ladder, as the config gives them
    policy                  jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE help_topics (
    id             bigserial PRIMARY KEY,
    name           text NOT NULL UNIQUE,
    sla_plan_id    bigint REFERENCES sla_plans(id),
    priority       text NOT NULL DEFAULT 'normal'
                   CHECK (priority IN ('low', 'normal', 'high', 'emergency')),
    department_id  bigint REFERENCES departments(id),
    team_id        bigint REFERENCES teams(id),
    assignee_id    bigint REFERENCES agents(id)
);

CREATE TABLE customers (
    id               bigserial PRIMARY KEY,
    email            text NOT NULL UNIQUE CHECK (email = lower(email)),
    name             text NOT NULL DEFAULT '',
    undeliverable_at timestamptz,
    created_at       timestamptz NOT NULL
);

CREATE SEQUENCE ticket_number_seq START 1001;

CREATE TABLE tickets (
    id                  bigserial PRIMARY KEY,
    number              bigint NOT NULL UNIQUE DEFAULT nextval('ticket_number_seq'),
    subject             text NOT NULL,
    status              text NOT NULL DEFAULT 'open'
                        CHECK (status IN ('open', 'pending', 'resolved', 'closed')),
    priority            text NOT NULL DEFAULT 'normal'
                        CHECK (priority IN ('low', 'normal', 'high', 'emergency')),
    customer_id         bigint NOT NULL REFERENCES customers(id),
    help_topic_id       bigint REFERENCES help_topics(id),
    department_id       bigint REFERENCES departments(id),
    team_id             bigint REFERENCES teams(id),
    assignee_id         bigint REFERENCES agents(id),
    sla_plan_id         bigint REFERENCES sla_plans(id),
    first_response_due  timestamptz,
    resolution_due      timestamptz,
    first_responded_at  timestamptz,
    overdue             boolean NOT NULL DEFAULT false,
    mailbox             text NOT NULL DEFAULT '',
    -- the thread root: every mail we send about this ticket references it
    root_message_id     text NOT NULL,
    linked_ticket_id    bigint REFERENCES tickets(id),
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    resolved_at         timestamptz,
    closed_at           timestamptz
);
CREATE INDEX tickets_status_idx ON tickets (status, number);
CREATE INDEX tickets_assignee_idx ON tickets (assignee_id) WHERE status IN ('open', 'pending');

CREATE TABLE ticket_collaborators (
    ticket_id   bigint NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    customer_id bigint NOT NULL REFERENCES customers(id),
    PRIMARY KEY (ticket_id, customer_id)
);

-- Every inbound message, raw, exactly once: message_key is the Message-ID,
-- or a digest of the bytes when there is none.
CREATE TABLE messages (
    id           bigserial PRIMARY KEY,
    message_key  text NOT NULL UNIQUE,
    message_id   text NOT NULL DEFAULT '',
    mailbox      text NOT NULL,
    class        text NOT NULL,
    ticket_id    bigint REFERENCES tickets(id),
    raw          bytea NOT NULL,
    received_at  timestamptz NOT NULL
);
CREATE INDEX messages_ticket_idx ON messages (ticket_id);

CREATE TABLE entries (
    id           bigserial PRIMARY KEY,
    ticket_id    bigint NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('message', 'response', 'note', 'event')),
    -- for events: created, assigned, priority, sla, status, overdue, escalated, ...
    event        text NOT NULL DEFAULT '',
    customer_id  bigint REFERENCES customers(id),
    agent_id     bigint REFERENCES agents(id),
    body         text NOT NULL DEFAULT '',
    data         jsonb NOT NULL DEFAULT '{}',
    message_ref  bigint REFERENCES messages(id),
    created_at   timestamptz NOT NULL
);
CREATE INDEX entries_ticket_idx ON entries (ticket_id, id);

CREATE TABLE attachments (
    id           bigserial PRIMARY KEY,
    message_ref  bigint NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    filename     text NOT NULL,
    content_type text NOT NULL,
    size         bigint NOT NULL,
    inline       boolean NOT NULL DEFAULT false
);

-- The Message-ID of every inbound message on a ticket (and of the tickets'
-- roots), for threading replies; those we send are in outbox.message_id.
CREATE TABLE thread_ids (
    message_id text PRIMARY KEY,
    ticket_id  bigint NOT NULL REFERENCES tickets(id) ON DELETE CASCADE
);

CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    ticket_id       bigint REFERENCES tickets(id) ON DELETE SET NULL,
    template        text NOT NULL,
    recipient       text NOT NULL,
    message_id      text NOT NULL UNIQUE,
    in_reply_to     text NOT NULL DEFAULT '',
    refs            text NOT NULL DEFAULT '',
    data            jsonb NOT NULL DEFAULT '{}',
    -- an inbound message to attach whole, e.g. the mail a command error is about
    attach_message_ref bigint REFERENCES messages(id),
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sent', 'failed')),
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz
);
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE state = 'pending';

CREATE TABLE mailbox_checkpoints (
    mailbox      text NOT NULL,
    folder       text NOT NULL,
    uid_validity bigint NOT NULL,
    last_uid     bigint NOT NULL,
    last_poll_at timestamptz,
    PRIMARY KEY (mailbox, folder)
);

CREATE TABLE quarantine (
    id          bigserial PRIMARY KEY,
    mailbox     text NOT NULL,
    reason      text NOT NULL,
    digest      text NOT NULL UNIQUE,
    raw         bytea NOT NULL,
    created_at  timestamptz NOT NULL,
    released_at timestamptz
);

-- Installation-wide settings, such as the generated reply-token secret.
CREATE TABLE settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- core/migrations/0002_sla_clock.sql
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

-- core/migrations/0003_outbox_budget.sql
-- The bare address of each outbox recipient, for the automatic-mail budget
-- (per recipient and per ticket, per window) and undeliverable marking.
ALTER TABLE outbox ADD COLUMN to_email text NOT NULL DEFAULT '';
CREATE INDEX outbox_to_email_idx ON outbox (to_email, created_at);
CREATE INDEX outbox_ticket_idx ON outbox (ticket_id, created_at);

-- core/migrations/0004_stall_alerts.sql
-- Mailboxes the admins were told have stopped polling; the row goes away
-- with the recovery alert. One alert per stall, however many daemons run.
CREATE TABLE stall_alerts (
    mailbox text PRIMARY KEY,
    since   timestamptz NOT NULL
);

-- core/migrations/0005_lz4.sql
-- Large values (raw messages, long bodies) are compressed with lz4, several
-- times faster than PostgreSQL's default pglz on the intake path. A server
-- built without lz4 keeps pglz.
DO $$
BEGIN
    ALTER TABLE messages ALTER COLUMN raw SET COMPRESSION lz4;
    ALTER TABLE entries ALTER COLUMN body SET COMPRESSION lz4;
    ALTER TABLE quarantine ALTER COLUMN raw SET COMPRESSION lz4;
    ALTER TABLE outbox ALTER COLUMN data SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 not available: keeping pglz';
END $$;

-- core/migrations/0006_outbox_failed_idx.sql
-- The outbox keeps every mail ever sent; the metrics count only what waits
-- (outbox_due_idx) and what failed, so both must be reachable by index.
CREATE INDEX outbox_failed_idx ON outbox (id) WHERE state = 'failed';

