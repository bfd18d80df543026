package core_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"helpdesk/core"
	"helpdesk/core/coretest"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func greg(msgID string) *core.Inbound {
	return &core.Inbound{
		Mailbox:   "emergency",
		MessageID: msgID,
		From:      core.Address{Name: "Greg", Email: "Greg@Example.com"},
		Subject:   "Laptop trackpad stopped working",
		Text:      "My trackpad does nothing since this morning.",
		Class:     core.ClassHuman,
		Topic:     "SEV-A",
		RouteRule: "address emergency@desk.test",
		Raw:       []byte("Subject: Laptop trackpad stopped working\r\n\r\nMy trackpad does nothing.\r\n"),
	}
}

func TestIngestCreatesTicketOnceWithAckAndAlert(t *testing.T) {
	ctx := context.Background()
	s := coretest.SeededStore(t)
	res, err := coretest.Ingest(ctx, s, greg("m1@example.com"), t0)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created || res.Ticket == 0 {
		t.Fatalf("got %+v, want a new ticket", res)
	}
	again, err := coretest.Ingest(ctx, s, greg("m1@example.com"), t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !again.Duplicate {
		t.Fatalf("second delivery: got %+v, want duplicate", again)
	}
	th, err := s.ShowTicket(ctx, res.Ticket)
	if err != nil {
		t.Fatal(err)
	}
	tk := th.Ticket
	if tk.Priority != core.PriorityEmergency || tk.SLAPlan != "SEV-A" || tk.Assignee == nil || tk.Assignee.Email != "admin@desk.test" {
		t.Errorf("routing: got priority %s plan %q assignee %v, want emergency SEV-A admin", tk.Priority, tk.SLAPlan, tk.Assignee)
	}
	if tk.Customer.Email != "greg@example.com" {
		t.Errorf("customer: got %q, want greg@example.com", tk.Customer.Email)
	}
	if tk.FirstResponseDue == nil || !tk.FirstResponseDue.Equal(t0.Add(time.Hour)) {
		t.Errorf("first response due: got %v, want %v", tk.FirstResponseDue, t0.Add(time.Hour))
	}
	var kinds []string
	for _, e := range th.Entries {
		kinds = append(kinds, string(e.Kind)+":"+e.Event)
	}
	if got, want := strings.Join(kinds, ","), "event:created,event:routed,message:"; got != want {
		t.Errorf("thread: got %s, want %s", got, want)
	}
	mails, err := s.ClaimOutbox(ctx, 10, time.Minute, t0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range mails {
		got[m.Template] = m.Recipient
		if m.InReplyTo != "m1@example.com" {
			t.Errorf("%s: In-Reply-To %q, want m1@example.com", m.Template, m.InReplyTo)
		}
	}
	if len(mails) != 2 || !strings.Contains(got[core.TemplateAck], "greg@example.com") ||
		!strings.Contains(got[core.TemplateNewTicketAlert], "admin@desk.test") {
		t.Errorf("outbox: got %v, want an ack to Greg and an alert to the admin", got)
	}
}

func TestThreadingRules(t *testing.T) {
	ctx := context.Background()
	s := coretest.SeededStore(t)
	first, err := coretest.Ingest(ctx, s, greg("m1@example.com"), t0)
	if err != nil {
		t.Fatal(err)
	}
	tag := core.SubjectTag(first.Ticket)

	cases := []struct {
		name    string
		in      core.Inbound
		want    string // "same" or "new"
		wantWhy string
	}{
		{"references our root", core.Inbound{MessageID: "r1@example.com", From: core.Address{Email: "greg@example.com"},
			Subject: "Re: trackpad", References: []string{"m1@example.com"}}, "same", "references"},
		{"subject tag from the customer", core.Inbound{MessageID: "r2@example.com", From: core.Address{Email: "greg@example.com"},
			Subject: "Re: " + tag + " trackpad"}, "same", "subject tag"},
		{"subject tag from a stranger", core.Inbound{MessageID: "r3@example.com", From: core.Address{Email: "mallory@evil.test"},
			Subject: "Re: " + tag + " trackpad"}, "new", ""},
		{"signed token", core.Inbound{MessageID: "r4@example.com", From: core.Address{Email: "other@example.com"},
			Subject: "hello", ReplyToken: s.MintToken(core.ReplyToken{Ticket: first.Ticket})}, "same", "reply token"},
		{"forged token", core.Inbound{MessageID: "r5@example.com", From: core.Address{Email: "other@example.com"},
			Subject: "hello", ReplyToken: "1001-0-aaaaaaaaaaaaaaaa"}, "new", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := c.in
			in.Mailbox, in.Class, in.Text, in.Raw = "support", core.ClassHuman, "text", []byte(in.MessageID)
			res, err := coretest.Ingest(ctx, s, &in, t0.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			same := res.Ticket == first.Ticket && !res.Created
			if (c.want == "same") != same {
				t.Fatalf("got ticket %d (created %v), want %s ticket as %d", res.Ticket, res.Created, c.want, first.Ticket)
			}
			if c.wantWhy != "" && !strings.Contains(res.Action, c.wantWhy) {
				t.Errorf("action %q, want it to say %q", res.Action, c.wantWhy)
			}
		})
	}
}

func TestMachineMailNeverOpensOrAnswers(t *testing.T) {
	ctx := context.Background()
	s := coretest.SeededStore(t)
	first, err := coretest.Ingest(ctx, s, greg("m1@example.com"), t0)
	if err != nil {
		t.Fatal(err)
	}
	sent, err := s.ClaimOutbox(ctx, 10, time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range sent {
		if err := s.MarkSent(ctx, m, t0); err != nil {
			t.Fatal(err)
		}
	}
	ooo := &core.Inbound{Mailbox: "support", MessageID: "ooo@example.com", From: core.Address{Email: "greg@example.com"},
		Subject: "Out of office", InReplyTo: []string{"m1@example.com"}, Class: core.ClassAutoReply, Raw: []byte("x")}
	res, err := coretest.Ingest(ctx, s, ooo, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if res.Ticket != first.Ticket || res.Created {
		t.Errorf("auto-reply: got %+v, want it stored on ticket %d", res, first.Ticket)
	}
	stray := &core.Inbound{Mailbox: "support", MessageID: "bounce@mx.test", From: core.Address{Email: "mailer-daemon@mx.test"},
		Subject: "Undelivered", Class: core.ClassBounce, Raw: []byte("y")}
	res, err = coretest.Ingest(ctx, s, stray, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if res.Ticket != 0 {
		t.Errorf("stray bounce: got ticket %d, want none", res.Ticket)
	}
	mails, err := s.ClaimOutbox(ctx, 10, time.Hour, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(mails) != 0 {
		t.Errorf("machine mail caused %d outgoing mails, want none", len(mails))
	}
	list, err := s.ListTickets(ctx, core.TicketFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Errorf("got %d tickets, want 1", len(list))
	}
}

func TestCheckpointAdvancesWithMessage(t *testing.T) {
	ctx := context.Background()
	s := coretest.SeededStore(t)
	in := greg("m1@example.com")
	cp := &core.Checkpoint{Mailbox: "support", Folder: "INBOX", UIDValidity: 7, LastUID: 3}
	if _, err := s.IngestBatch(ctx, []*core.Inbound{in}, cp, t0); err != nil {
		t.Fatal(err)
	}
	// A redelivery of an older UID never moves the checkpoint backwards.
	cp = &core.Checkpoint{Mailbox: "support", Folder: "INBOX", UIDValidity: 7, LastUID: 2}
	if _, err := s.IngestBatch(ctx, []*core.Inbound{in}, cp, t0); err != nil {
		t.Fatal(err)
	}
	c, ok, err := s.LoadCheckpoint(ctx, "support", "INBOX")
	if err != nil || !ok {
		t.Fatalf("load checkpoint: %v %v", ok, err)
	}
	if c.UIDValidity != 7 || c.LastUID != 3 {
		t.Errorf("got %+v, want validity 7 uid 3", c)
	}
}

func TestSyncDirectoryIsIdempotent(t *testing.T) {
	ctx := context.Background()
	s := coretest.SeededStore(t)
	if err := s.SyncDirectory(ctx, coretest.Seed); err != nil {
		t.Fatal(err)
	}
	agents, err := s.Agents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(agents) != 2 || agents[0].Role != core.RoleAdmin || agents[1].Teams[0] != "Level 1 Support" {
		t.Errorf("got %+v, want the admin then Garnet in Level 1 Support", agents)
	}
}

func TestMigrateRefusesNewerDatabase(t *testing.T) {
	ctx := context.Background()
	s := coretest.NewStore(t)
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate an up-to-date database: %v", err)
	}
	if err := s.ExecForTest(ctx, `INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future.sql')`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Migrate(ctx); err == nil || !strings.Contains(err.Error(), "9999") {
		t.Errorf("got %v, want a refusal naming version 9999", err)
	}
}

func TestRoundRobinSkipsAgentsAway(t *testing.T) {
	ctx := context.Background()
	s := coretest.NewStore(t)
	dir := coretest.Seed
	dir.Teams = []core.Team{{Name: "Level 1 Support", Department: "Support", AutoAssign: true}}
	dir.Agents = append(append([]core.Agent{}, dir.Agents...),
		core.Agent{Email: "ivy@desk.test", Name: "Ivy", Role: core.RoleAgent, Teams: []string{"Level 1 Support"}, Away: true},
		core.Agent{Email: "otto@desk.test", Name: "Otto", Role: core.RoleAgent, Teams: []string{"Level 1 Support"}})
	if err := s.SyncDirectory(ctx, dir); err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := 0; i < 4; i++ {
		in := greg(fmt.Sprintf("rr%d@example.com", i))
		in.Topic = "SEV-C"
		res, err := coretest.Ingest(ctx, s, in, t0)
		if err != nil {
			t.Fatal(err)
		}
		th, err := s.ShowTicket(ctx, res.Ticket)
		if err != nil {
			t.Fatal(err)
		}
		if th.Ticket.Assignee == nil {
			t.Fatalf("ticket %d unassigned", res.Ticket)
		}
		got = append(got, th.Ticket.Assignee.Email)
	}
	want := "garnet@desk.test,otto@desk.test,garnet@desk.test,otto@desk.test"
	if strings.Join(got, ",") != want {
		t.Errorf("assignees %v, want %s (Ivy is away)", got, want)
	}
}

// A robot that opens a new thread with every mail (new subject, no
// threading headers, no Auto-Submitted) gets one acknowledgement, however
// many tickets it opens (RFC 3834), and the agents one digest.
func TestRobotGetsOneAcknowledgement(t *testing.T) {
	ctx := context.Background()
	s := coretest.SeededStore(t)
	const n = 25
	for i := 0; i < n; i++ {
		in := greg(fmt.Sprintf("robot-%d@example.com", i))
		in.Subject, in.Topic = fmt.Sprintf("Status report %d", i), ""
		if _, err := coretest.Ingest(ctx, s, in, t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.ListTickets(ctx, core.TicketFilter{})
	if err != nil || len(list) != n {
		t.Fatalf("%d tickets (%v), want %d: every mail still opens one", len(list), err, n)
	}
	mails, err := s.ClaimOutbox(ctx, 1000, 1000*time.Hour, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	byTemplate := map[string][]core.OutMail{}
	for _, m := range mails {
		byTemplate[m.Template] = append(byTemplate[m.Template], m)
	}
	if acks := len(byTemplate[core.TemplateAck]); acks != 1 {
		t.Errorf("%d acknowledgements queued, want 1", acks)
	}
	// Greg's tickets route nowhere: only the admin hears of them, one by
	// one up to the limit, then in one digest counting the rest.
	limit := core.DefaultBudget.AlertsPerSender
	if got := len(byTemplate[core.TemplateNewTicketAlert]); got != limit {
		t.Errorf("%d new-ticket alerts, want %d", got, limit)
	}
	if got := byTemplate[core.TemplateSenderFlood]; len(got) != 1 || got[0].Data.Count != n-limit {
		t.Errorf("flood digests %+v, want one counting %d tickets", got, n-limit)
	}
	th, _ := s.ShowTicket(ctx, list[0].Number)
	if !hasSuppression(th, "RFC 3834") {
		t.Errorf("the suppressed acknowledgement is not noted on the ticket")
	}
	// A day later the robot is answered once more.
	in := greg("robot-next-day@example.com")
	in.Subject, in.Topic = "Status report tomorrow", ""
	if _, err := coretest.Ingest(ctx, s, in, t0.Add(25*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := countTemplate(t, s, core.TemplateAck, t0.Add(26*time.Hour)); got != 1 {
		t.Errorf("next day: %d more acknowledgements, want 1", got)
	}
}

// The per-recipient budget still stops what the per-sender rule does not
// cover, here with that rule turned off.
func TestAutomaticMailBudgetStopsLoops(t *testing.T) {
	ctx := context.Background()
	budget := core.DefaultBudget
	budget.AckInterval = 0
	s := coretest.OpenSameWith(t, coretest.SeededStore(t), core.Options{Budget: budget})
	for i := 0; i < budget.PerRecipient+5; i++ {
		in := greg(fmt.Sprintf("loop-%d@example.com", i))
		in.Topic = ""
		if _, err := coretest.Ingest(ctx, s, in, t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if acks := countTemplate(t, s, core.TemplateAck, t0.Add(time.Hour)); acks != budget.PerRecipient {
		t.Errorf("%d acknowledgements queued, want the budget of %d", acks, budget.PerRecipient)
	}
	if got := s.SuppressedByBudget(); got != 5 {
		t.Errorf("suppressed %d, want 5", got)
	}
	list, _ := s.ListTickets(ctx, core.TicketFilter{Limit: 1})
	th, _ := s.ShowTicket(ctx, list[0].Number)
	if !hasSuppression(th, "budget") {
		t.Errorf("the suppression is not noted on the ticket")
	}
}

// countTemplate claims every due mail for good and counts those of one
// template: each mail is counted once.
func countTemplate(t *testing.T, s *core.Store, template string, now time.Time) int {
	t.Helper()
	mails, err := s.ClaimOutbox(context.Background(), 1000, 1000*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range mails {
		if m.Template == template {
			n++
		}
	}
	return n
}

func hasSuppression(th *core.Thread, reason string) bool {
	for _, e := range th.Entries {
		if e.Event == "mail_suppressed" && strings.Contains(fmt.Sprint(e.Data["reason"]), reason) {
			return true
		}
	}
	return false
}

func TestReplyAfterResolutionReopensOrLinks(t *testing.T) {
	ctx := context.Background()
	s := coretest.SeededStore(t)
	first, err := coretest.Ingest(ctx, s, greg("r-1@example.com"), t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Act(ctx, first.Ticket, "admin@desk.test", []core.Command{{Name: "resolve"}}, "", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	reply := func(id string, at time.Time, class core.Class) core.IngestResult {
		in := &core.Inbound{Mailbox: "support", MessageID: id, From: core.Address{Email: "greg@example.com"}, Subject: "Re: trackpad",
			InReplyTo: []string{"r-1@example.com"}, Text: "It broke again.", Class: class, Raw: []byte(id)}
		res, err := coretest.Ingest(ctx, s, in, at)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// An auto-reply never reopens.
	reply("r-ooo@example.com", t0.Add(2*time.Hour), core.ClassAutoReply)
	if th, _ := s.ShowTicket(ctx, first.Ticket); th.Ticket.Status != core.StatusResolved {
		t.Fatalf("an auto-reply reopened the ticket: %s", th.Ticket.Status)
	}
	// Within the window: the same ticket reopens.
	res := reply("r-2@example.com", t0.Add(24*time.Hour), core.ClassHuman)
	th, _ := s.ShowTicket(ctx, first.Ticket)
	if res.Ticket != first.Ticket || th.Ticket.Status != core.StatusOpen {
		t.Fatalf("reply within the window: ticket %d status %s, want %d reopened", res.Ticket, th.Ticket.Status, first.Ticket)
	}
	// Resolved again, and a reply long after: a new ticket linked to the old.
	if _, err := s.Act(ctx, first.Ticket, "admin@desk.test", []core.Command{{Name: "close"}}, "", t0.Add(25*time.Hour)); err != nil {
		t.Fatal(err)
	}
	res = reply("r-3@example.com", t0.Add(25*time.Hour+core.DefaultReopenWindow+time.Hour), core.ClassHuman)
	if !res.Created || res.Ticket == first.Ticket {
		t.Fatalf("late reply: %+v, want a new ticket", res)
	}
	th, _ = s.ShowTicket(ctx, res.Ticket)
	if th.Entries[0].Data["linked_ticket"] != float64(first.Ticket) {
		t.Errorf("new ticket's created event %v, want it linked to %d", th.Entries[0].Data, first.Ticket)
	}
}

// Large messages go to the database in chunks; they must come back whole.
func TestLargeRawStoredWhole(t *testing.T) {
	ctx := context.Background()
	s := coretest.SeededStore(t)
	raw := make([]byte, 9<<20+123)
	for i := range raw {
		raw[i] = byte(i % 251)
	}
	in := greg("large@example.com")
	in.Raw = raw
	if _, err := coretest.Ingest(ctx, s, in, t0); err != nil {
		t.Fatal(err)
	}
	batch := greg("large-2@example.com")
	batch.Raw = raw
	if _, err := s.IngestBatch(ctx, []*core.Inbound{batch}, nil, t0); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, key := range []string{"mid:large@example.com", "mid:large-2@example.com"} {
		var got []byte
		if err := conn.QueryRow(ctx, `SELECT raw FROM messages WHERE message_key = $1`, key).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, raw) {
			t.Errorf("%s: stored %d bytes, want the %d sent, identical", key, len(got), len(raw))
		}
	}
	id, err := s.Quarantine(ctx, "support", "too big", raw, nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	q, err := s.QuarantineGet(ctx, id)
	if err != nil || !bytes.Equal(q.Raw, raw) {
		t.Errorf("quarantined copy differs (%v)", err)
	}
}

// A customer's name is the one their own latest mail gives: a Cc line
// naming them (or a spoofer writing first) does not fix it for good.
func TestCustomerNameFromTheirOwnMail(t *testing.T) {
	ctx := context.Background()
	s := coretest.SeededStore(t)
	mail := func(id, fromName, fromEmail string, cc ...core.Address) {
		t.Helper()
		in := greg(id)
		in.From, in.Cc, in.Subject = core.Address{Name: fromName, Email: fromEmail}, cc, "Subject "+id
		if _, err := coretest.Ingest(ctx, s, in, t0); err != nil {
			t.Fatal(err)
		}
	}
	name := func(number int64) string {
		th, err := s.ShowTicket(ctx, number)
		if err != nil {
			t.Fatal(err)
		}
		return th.Ticket.Customer.Name
	}
	// Ann's mail puts Bob on Cc under a hostile name before Bob ever writes.
	mail("n1@example.com", "Ann", "ann@example.com", core.Address{Name: "Bob the Fool", Email: "bob@example.com"})
	mail("n2@example.com", "", "bob@example.com")
	if got := name(1002); got != "" {
		t.Errorf("Bob's name %q came from a Cc line", got)
	}
	// A spoofer wrote first as "Carl Scam"; Carl's own later mail wins.
	mail("n3@example.com", "Carl Scam", "carl@example.com")
	mail("n4@example.com", "Carl Jones", "carl@example.com")
	if got := name(1004); got != "Carl Jones" {
		t.Errorf("Carl's name %q, want the latest", got)
	}
	// Mail without a name keeps the one known.
	mail("n5@example.com", "", "carl@example.com")
	if got := name(1005); got != "Carl Jones" {
		t.Errorf("Carl's name %q after a mail without one", got)
	}
}

// The per-domain limit counts every sender of the domain: the third new
// ticket in the hour from x.example is grouped, another domain's is not.
func TestNewTicketLimitPerDomain(t *testing.T) {
	budget := core.DefaultBudget
	budget.TicketsPerDomain = 2
	s := coretest.OpenSameWith(t, coretest.SeededStore(t), core.Options{Budget: budget})
	ctx := context.Background()
	for i, from := range []string{"a@x.example", "b@x.example", "c@x.example", "d@y.example"} {
		in := greg(fmt.Sprintf("dom-%d@example.com", i))
		in.From = core.Address{Email: from}
		in.Subject = "Question " + from
		if _, err := coretest.Ingest(ctx, s, in, t0.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.ListTickets(ctx, core.TicketFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for _, tk := range list {
		subjects = append(subjects, tk.Subject)
	}
	if len(list) != 3 || strings.Contains(strings.Join(subjects, "|"), "c@x.example") {
		t.Errorf("tickets %q, want a, b and d: c is over x.example's limit of 2", subjects)
	}
}
