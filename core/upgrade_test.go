package core_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"helpdesk/core"
	"helpdesk/core/coretest"
)

// A database filled under the first release's schema (migrations
// 0001-0006 as they were at f7e76b6, from git history) upgrades to this
// binary's schema with its data intact, and intake goes on threading onto
// its old tickets.
func TestUpgradeFromFirstRelease(t *testing.T) {
	ctx := context.Background()
	url := coretest.EmptyURL(t)
	schema, err := os.ReadFile("testdata/release1-schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, sql := range []string{string(schema), `
		CREATE TABLE schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
		INSERT INTO schema_migrations (version, name) SELECT g, 'release 1' FROM generate_series(1, 6) g;
		INSERT INTO customers (email, name, created_at) VALUES ('greg@example.com', 'Greg', now());
		INSERT INTO tickets (subject, customer_id, root_message_id, created_at, updated_at)
			VALUES ('Trackpad', (SELECT id FROM customers), 'old-1@example.com', now(), now());
		INSERT INTO messages (message_key, message_id, mailbox, class, raw, received_at, ticket_id)
			VALUES ('mid:old-1@example.com', 'old-1@example.com', 'support', 'human', 'raw', now(), (SELECT id FROM tickets));
		INSERT INTO thread_ids (message_id, ticket_id) VALUES ('old-1@example.com', (SELECT id FROM tickets));
		INSERT INTO entries (ticket_id, kind, customer_id, body, created_at)
			VALUES ((SELECT id FROM tickets), 'message', (SELECT id FROM customers), 'It is dead.', now());
		INSERT INTO outbox (ticket_id, template, recipient, to_email, message_id, state, next_attempt_at, created_at)
			VALUES ((SELECT id FROM tickets), 'ack', 'Greg <greg@example.com>', 'greg@example.com', 'hd.1001.x@desk.test', 'sent', now(), now());`,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	s, err := core.Open(ctx, url, core.Options{Domain: "desk.test", Secret: coretest.Secret})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	applied, err := s.Migrate(ctx)
	if err != nil {
		t.Fatalf("upgrade: %v (applied %v)", err, applied)
	}
	if len(applied) != core.SchemaVersion()-6 {
		t.Errorf("applied %v, want migrations 7 to %d", applied, core.SchemaVersion())
	}
	th, err := s.ShowTicket(ctx, 1001)
	if err != nil || th.Ticket.Subject != "Trackpad" || th.Ticket.Customer.Name != "Greg" || len(th.Entries) != 1 ||
		th.Entries[0].Body != "It is dead." {
		t.Fatalf("old ticket after the upgrade: %+v (%v)", th, err)
	}
	reply := &core.Inbound{Mailbox: "support", MessageID: "new-1@example.com", InReplyTo: []string{"hd.1001.x@desk.test"},
		From: core.Address{Email: "greg@example.com"}, Subject: "Re: Trackpad", Text: "Still dead.", Class: core.ClassHuman, Raw: []byte("r")}
	res, err := coretest.Ingest(ctx, s, reply, time.Now())
	if err != nil || res.Ticket != 1001 || res.Created {
		t.Errorf("a reply to the old ticket's mail: %+v (%v), want it on 1001", res, err)
	}
}

// PendingMigrations lists what Migrate would apply and applies nothing.
func TestPendingMigrations(t *testing.T) {
	ctx := context.Background()
	s, err := core.Open(ctx, coretest.EmptyURL(t), core.Options{Domain: "desk.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pending, err := s.PendingMigrations(ctx)
	if err != nil || len(pending) != core.SchemaVersion() {
		t.Fatalf("pending %v (%v), want all %d", pending, err, core.SchemaVersion())
	}
	if again, _ := s.PendingMigrations(ctx); len(again) != len(pending) {
		t.Errorf("a dry run applied something")
	}
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if after, err := s.PendingMigrations(ctx); err != nil || len(after) != 0 {
		t.Errorf("after migrating: %v (%v), want none", after, err)
	}
}
