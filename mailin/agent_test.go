package mailin

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"helpdesk/core"
	"helpdesk/core/coretest"
)

// desk is an intake over the seeded organisation, with a trusted receiving
// server named mx.desk.test.
type desk struct {
	t      *testing.T
	s      *core.Store
	in     *Intake
	agents map[string]int64 // email → id
	now    time.Time
	seq    int
}

func newDesk(t *testing.T) *desk {
	s := coretest.SeededStore(t)
	agents, err := s.Agents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d := &desk{t: t, s: s, agents: map[string]int64{}, now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	for _, a := range agents {
		d.agents[a.Email] = a.ID
	}
	d.in = &Intake{Store: s, Desk: []string{"support@desk.test", "emergency@desk.test"}, TrustedAuthServID: "mx.desk.test",
		Routes: []Route{{Address: "emergency@desk.test", Topic: "SEV-A"}}, Log: quiet(), Now: func() time.Time { return d.now }}
	return d
}

// deliver sends a raw message through intake and returns the outcome.
func (d *desk) deliver(headers, body string) Outcome {
	d.t.Helper()
	d.seq++
	d.now = d.now.Add(time.Minute)
	raw := fmt.Sprintf("%sMessage-ID: <m%d@mail.test>\r\nDate: %s\r\n\r\n%s\r\n", headers, d.seq, d.now.Format(time.RFC1123Z), body)
	out, err := d.in.Deliver(context.Background(), Source{Mailbox: "support", DefaultTopic: "SEV-C"}, []byte(raw))
	if err != nil {
		d.t.Fatal(err)
	}
	return out
}

// token is the reply token a ticket mail to this agent (or customer) carries.
func (d *desk) token(ticket int64, agentEmail string) string {
	tok := core.ReplyToken{Ticket: ticket, Agent: d.agents[agentEmail]}
	if tok.Agent != 0 {
		tok.Until = d.now.Add(core.DefaultTokenLifetime)
	}
	return d.s.MintToken(tok)
}

// agentReply is a reply from an agent to a ticket mail addressed to them.
func (d *desk) agentReply(ticket int64, agent, body string) Outcome {
	return d.deliver(fmt.Sprintf("From: %s\r\nTo: support+%s@desk.test\r\nSubject: Re: [#%d] x\r\n", agent, d.token(ticket, agent), ticket), body)
}

func (d *desk) thread(n int64) *core.Thread {
	d.t.Helper()
	th, err := d.s.ShowTicket(context.Background(), n)
	if err != nil {
		d.t.Fatal(err)
	}
	return th
}

// outbox drains the outbox and returns "template→recipient" for each mail.
func (d *desk) outbox() []string {
	d.t.Helper()
	mails, err := d.s.ClaimOutbox(context.Background(), 1000, time.Hour, d.now.Add(24*time.Hour))
	if err != nil {
		d.t.Fatal(err)
	}
	var out []string
	for _, m := range mails {
		if err := d.s.MarkSent(context.Background(), m, d.now); err != nil {
			d.t.Fatal(err)
		}
		out = append(out, m.Template+"→"+m.Recipient)
	}
	return out
}

// has reports whether a "template→recipient" entry matches want, where want
// is "template→" plus part of the recipient.
func has(list []string, want string) bool {
	tmpl, who, _ := strings.Cut(want, "→")
	for _, s := range list {
		t, r, _ := strings.Cut(s, "→")
		if t == tmpl && strings.Contains(r, who) {
			return true
		}
	}
	return false
}

func (d *desk) newTicket(from, to, subject, body string) int64 {
	d.t.Helper()
	out := d.deliver(fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\n", from, to, subject), body)
	if !out.Created {
		d.t.Fatalf("no ticket created: %+v", out)
	}
	d.outbox()
	return out.Ticket
}

func TestAgentCommandsApplyAndNotify(t *testing.T) {
	d := newDesk(t)
	n := d.newTicket("Greg <greg@example.com>", "emergency@desk.test", "Trackpad dead", "It stopped.")
	out := d.agentReply(n, "admin@desk.test", "/sla SEV-C\n/priority low\n/assign Garnet\n\nNot an emergency; Garnet will help you.\n\nOn Mon, Greg wrote:\n> It stopped.")
	if !strings.Contains(out.Action, "3 commands") {
		t.Fatalf("action %q, want 3 commands applied", out.Action)
	}
	th := d.thread(n)
	tk := th.Ticket
	if tk.SLAPlan != "SEV-C" || tk.Priority != core.PriorityLow || tk.Assignee == nil || tk.Assignee.Email != "garnet@desk.test" {
		t.Errorf("ticket after commands: plan %s priority %s assignee %v", tk.SLAPlan, tk.Priority, tk.Assignee)
	}
	if tk.FirstRespondedAt == nil {
		t.Errorf("first response not recorded")
	}
	var events []string
	var response string
	for _, e := range th.Entries {
		if e.Kind == core.EntryEvent {
			events = append(events, e.Event+"/"+e.Author)
		}
		if e.Kind == core.EntryResponse {
			response = e.Body
		}
	}
	for _, want := range []string{"sla/Ada Admin", "priority/Ada Admin", "assigned/Ada Admin"} {
		if !has(events, want) {
			t.Errorf("events %v lack %s", events, want)
		}
	}
	if response != "Not an emergency; Garnet will help you." {
		t.Errorf("response %q: quote not stripped or commands kept", response)
	}
	mails := d.outbox()
	for _, want := range []string{"assigned→Garnet", "response→greg@example.com", "command_receipt→Ada Admin"} {
		if !has(mails, want) {
			t.Errorf("mails %v lack %s", mails, want)
		}
	}
}

func TestNoteNeverReachesCustomer(t *testing.T) {
	d := newDesk(t)
	n := d.newTicket("Jane <jane@example.com>", "support@desk.test", "Portal 404", "Cannot pay.")
	d.agentReply(n, "garnet@desk.test", "/note The payment gateway is down for everyone.")
	mails := d.outbox()
	for _, m := range mails {
		if strings.Contains(m, "jane@example.com") {
			t.Errorf("a note mailed the customer: %v", mails)
		}
	}
	th := d.thread(n)
	last := th.Entries[len(th.Entries)-1]
	if last.Kind != core.EntryNote || last.Body != "The payment gateway is down for everyone." {
		t.Errorf("last entry %+v, want the note", last)
	}
}

func TestCommandRefusals(t *testing.T) {
	cases := []struct {
		name, from, to, body, extra string
		setup                       string // an admin's commands first
		wantInAction                string
		wantErrMail                 bool // the sender gets a command error mail
	}{
		{name: "unknown command", from: "admin@desk.test", body: "/frobnicate now\nHello", wantInAction: "unknown command", wantErrMail: true},
		{name: "a good command before a bad one is rolled back", from: "admin@desk.test", body: "/assign Garnet\n/frobnicate\nHello",
			wantInAction: "unknown command", wantErrMail: true},
		{name: "ambiguous agent", from: "admin@desk.test", body: "/assign Sam\nHello", wantInAction: "ambiguous", wantErrMail: true},
		{name: "agent outside their team", setup: "/team Sales", from: "garnet@desk.test", body: "/priority high\nHello",
			wantInAction: "may not act", wantErrMail: true},
		{name: "forged agent From", from: "admin@desk.test", to: "support@desk.test", body: "/close\nDone", wantInAction: "unverified"},
		{name: "token of another agent", from: "admin@desk.test", to: "garnet", body: "/close\nDone", wantInAction: "unverified"},
		{name: "customer forwards agent token", from: "greg@example.com", to: "admin", body: "/close\nDone", wantInAction: "unverified"},
		{name: "auth results from untrusted server", from: "admin@desk.test", to: "support@desk.test",
			extra: "Authentication-Results: evil.test; dkim=pass header.d=desk.test\r\n", body: "/close\nDone", wantInAction: "unverified"},
		{name: "trusted auth results below a forged one", from: "admin@desk.test", to: "support@desk.test",
			extra: "Authentication-Results: evil.test; dkim=pass header.d=desk.test\r\nAuthentication-Results: mx.desk.test; dkim=pass header.d=desk.test\r\n",
			body:  "/close\nDone", wantInAction: "unverified"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := newDesk(t)
			// Two agents whose first name is Sam make "/assign Sam" ambiguous.
			dir := coretest.Seed
			dir.Departments = append(append([]core.Department{}, dir.Departments...), core.Department{Name: "Sales"})
			dir.Teams = append(append([]core.Team{}, dir.Teams...), core.Team{Name: "Sales", Department: "Sales"})
			dir.Agents = append(append([]core.Agent{}, dir.Agents...),
				core.Agent{Email: "sam.a@desk.test", Name: "Sam Alpha", Role: core.RoleAgent},
				core.Agent{Email: "sam.b@desk.test", Name: "Sam Beta", Role: core.RoleAgent})
			if err := d.s.SyncDirectory(context.Background(), dir); err != nil {
				t.Fatal(err)
			}
			agents, _ := d.s.Agents(context.Background())
			for _, a := range agents {
				d.agents[a.Email] = a.ID
			}
			n := d.newTicket("Greg <greg@example.com>", "emergency@desk.test", "Trackpad dead", "It stopped.")
			if c.setup != "" {
				d.agentReply(n, "admin@desk.test", c.setup)
				d.outbox()
			}
			before := d.thread(n).Ticket
			to := c.to
			switch to {
			case "":
				to = "support+" + d.token(n, c.from) + "@desk.test"
			case "garnet":
				to = "support+" + d.token(n, "garnet@desk.test") + "@desk.test"
			case "admin":
				to = "support+" + d.token(n, "admin@desk.test") + "@desk.test"
			}
			out := d.deliver(fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: Re: [#%d] Trackpad\r\n%s", c.from, to, n, c.extra), c.body)
			if !strings.Contains(out.Action, c.wantInAction) {
				t.Errorf("action %q, want it to contain %q", out.Action, c.wantInAction)
			}
			after := d.thread(n).Ticket
			if after.Status != before.Status || after.Priority != before.Priority || after.Assignee.Email != before.Assignee.Email {
				t.Errorf("ticket changed: %s/%s/%s → %s/%s/%s", before.Status, before.Priority, before.Assignee.Email,
					after.Status, after.Priority, after.Assignee.Email)
			}
			mails := d.outbox()
			for _, m := range mails {
				if strings.Contains(m, "greg@example.com") {
					t.Errorf("the customer was mailed: %v", mails)
				}
			}
			if has(mails, "assigned→") {
				t.Errorf("an assignment mail went out from a refused mail: %v", mails)
			}
			if c.wantErrMail != has(mails, "command_error→") {
				t.Errorf("mails %v: command error mail wanted %v", mails, c.wantErrMail)
			}
			last := d.thread(n).Entries
			if k := last[len(last)-1].Kind; k != core.EntryNote {
				t.Errorf("the refused mail was kept as %s, want an internal note", k)
			}
		})
	}
}

func TestTrustedAuthResultsVerifyAgentWithoutToken(t *testing.T) {
	d := newDesk(t)
	n := d.newTicket("Greg <greg@example.com>", "emergency@desk.test", "Trackpad dead", "It stopped.")
	out := d.deliver(fmt.Sprintf("Authentication-Results: mx.desk.test; dkim=pass header.d=desk.test; spf=pass\r\n"+
		"From: admin@desk.test\r\nTo: support@desk.test\r\nSubject: Re: [#%d] Trackpad\r\n", n), "/resolve\nFixed remotely.")
	if !strings.Contains(out.Action, "1 commands") {
		t.Fatalf("action %q, want the command applied", out.Action)
	}
	if st := d.thread(n).Ticket.Status; st != core.StatusResolved {
		t.Errorf("status %s, want resolved", st)
	}
}

func TestEveryCommand(t *testing.T) {
	d := newDesk(t)
	n := d.newTicket("Greg <greg@example.com>", "support@desk.test", "Question", "Hi.")
	steps := []struct {
		body  string
		check func(core.Ticket) string
	}{
		{"/take", func(t core.Ticket) string {
			return want(t.Assignee != nil && t.Assignee.Email == "admin@desk.test", "taken by admin")
		}},
		{"/team 'level 1 support'", func(t core.Ticket) string { return want(t.Team == "Level 1 Support", "team set") }},
		{"/priority HIGH", func(t core.Ticket) string { return want(t.Priority == core.PriorityHigh, "priority high") }},
		{"/sla \"SEV-B\"", func(t core.Ticket) string { return want(t.SLAPlan == "SEV-B", "plan SEV-B") }},
		{"/topic sev-a", func(t core.Ticket) string {
			return want(t.HelpTopic == "SEV-A" && t.SLAPlan == "SEV-A", "topic and plan SEV-A")
		}},
		{"/status pending", func(t core.Ticket) string { return want(t.Status == core.StatusPending, "pending") }},
		{"/resolve", func(t core.Ticket) string { return want(t.Status == core.StatusResolved, "resolved") }},
		{"/reopen", func(t core.Ticket) string { return want(t.Status == core.StatusOpen, "reopened") }},
		{"/cc Boss <boss@example.com>", func(t core.Ticket) string {
			return want(len(t.Collaborators) == 1 && t.Collaborators[0] == "boss@example.com", "boss collaborating")
		}},
		{"/uncc boss@example.com", func(t core.Ticket) string { return want(len(t.Collaborators) == 0, "no collaborators") }},
		{"/close", func(t core.Ticket) string { return want(t.Status == core.StatusClosed, "closed") }},
	}
	for _, st := range steps {
		out := d.agentReply(n, "admin@desk.test", st.body)
		if msg := st.check(d.thread(n).Ticket); msg != "" {
			t.Errorf("%s: %s (action %q)", st.body, msg, out.Action)
		}
	}
	if mails := d.outbox(); !has(mails, "resolved→greg@example.com") {
		t.Errorf("closing without a response should tell the customer: %v", mails)
	}
}

func want(ok bool, what string) string {
	if ok {
		return ""
	}
	return "want " + what
}

// An agent who is the requester of a ticket replies to it as a customer.
func TestAgentAsRequesterRepliesAsCustomer(t *testing.T) {
	d := newDesk(t)
	n := d.newTicket("Garnet <garnet@desk.test>", "support@desk.test", "My own laptop", "It is slow.")
	out := d.deliver(fmt.Sprintf("From: garnet@desk.test\r\nTo: support+%s@desk.test\r\nSubject: Re: [#%d] My own laptop\r\n",
		d.s.MintToken(core.ReplyToken{Ticket: n}), n), "Still slow.")
	if out.Unverified || out.Ticket != n {
		t.Fatalf("%+v: want a customer reply on ticket %d", out, n)
	}
	th := d.thread(n)
	if last := th.Entries[len(th.Entries)-1]; last.Kind != core.EntryMessage || last.Body != "Still slow." {
		t.Errorf("last entry %s %q, want the customer message", last.Kind, last.Body)
	}
}
