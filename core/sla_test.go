package core_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"helpdesk/core"
	"helpdesk/core/coretest"
)

// ladderStore holds the seed organisation with SEV-A on a four-rung ladder.
func ladderStore(t *testing.T, mutate func(*core.SLAPlan)) *core.Store {
	t.Helper()
	s := coretest.NewStore(t)
	dir := coretest.Seed
	dir.SLAPlans = append([]core.SLAPlan(nil), dir.SLAPlans...)
	dir.SLAPlans[0].Policy = core.SLAPolicy{Ladder: []core.EscalationStep{
		{Target: core.TargetFirstResponse, Fraction: 1, Action: core.ActionBreach},
		{Target: core.TargetResolution, Fraction: 0.75, Action: core.ActionWarn},
		{Target: core.TargetResolution, Fraction: 1, Action: core.ActionBreach},
		{Target: core.TargetResolution, Fraction: 1, After: time.Hour, Action: core.ActionEscalate,
			Priority: core.PriorityHigh, Agent: "garnet@desk.test"},
	}}
	if mutate != nil {
		mutate(&dir.SLAPlans[0])
	}
	if err := s.SyncDirectory(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	return s
}

func check(t *testing.T, s *core.Store, at time.Time) core.SLAResult {
	t.Helper()
	res, err := s.CheckSLA(context.Background(), at)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func drain(t *testing.T, s *core.Store, at time.Time) map[string]int {
	t.Helper()
	mails, err := s.ClaimOutbox(context.Background(), 1000, time.Hour, at)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, m := range mails {
		got[m.Template+"→"+m.Recipient]++
		if err := s.MarkSent(context.Background(), m, at); err != nil {
			t.Fatal(err)
		}
	}
	return got
}

func TestLadderWarnBreachEscalate(t *testing.T) {
	ctx := context.Background()
	s := ladderStore(t, nil)
	res, err := coretest.Ingest(ctx, s, greg("sla-1@example.com"), t0)
	if err != nil {
		t.Fatal(err)
	}
	drain(t, s, t0)
	steps := []struct {
		at       time.Duration
		want     string // action fired, "" for none
		mailsTo  string
		overdue  bool
		priority core.Priority
	}{
		{59 * time.Minute, "", "", false, core.PriorityEmergency},
		{time.Hour, "breach", `sla_breach→"Ada Admin" <admin@desk.test>`, true, core.PriorityEmergency},
		{3 * time.Hour, "warn", `sla_warning→"Ada Admin" <admin@desk.test>`, true, core.PriorityEmergency},
		{4 * time.Hour, "breach", `sla_breach→"Ada Admin" <admin@desk.test>`, true, core.PriorityEmergency},
		{5*time.Hour - time.Second, "", "", true, core.PriorityEmergency},
		{5 * time.Hour, "escalate", `sla_escalated→"Garnet" <garnet@desk.test>`, true, core.PriorityHigh},
		{9 * time.Hour, "", "", true, core.PriorityHigh},
	}
	for _, st := range steps {
		now := t0.Add(st.at)
		r := check(t, s, now)
		fired := ""
		for a, n := range r.Steps {
			if n != 1 {
				t.Errorf("at +%v: %s fired %d times", st.at, a, n)
			}
			fired += a
		}
		if fired != st.want {
			t.Errorf("at +%v: fired %q, want %q", st.at, fired, st.want)
		}
		mails := drain(t, s, now)
		if st.mailsTo != "" && mails[st.mailsTo] != 1 {
			t.Errorf("at +%v: mails %v, want one %s", st.at, mails, st.mailsTo)
		}
		if st.mailsTo == "" && len(mails) != 0 {
			t.Errorf("at +%v: unexpected mails %v", st.at, mails)
		}
		// Running the checker again at the same instant fires nothing.
		if again := check(t, s, now); len(again.Steps) != 0 {
			t.Errorf("at +%v: second run fired %v", st.at, again.Steps)
		}
		th, err := s.ShowTicket(ctx, res.Ticket)
		if err != nil {
			t.Fatal(err)
		}
		if th.Ticket.Overdue != st.overdue || th.Ticket.Priority != st.priority {
			t.Errorf("at +%v: overdue %v priority %s, want %v %s", st.at, th.Ticket.Overdue, th.Ticket.Priority, st.overdue, st.priority)
		}
	}
	th, _ := s.ShowTicket(ctx, res.Ticket)
	if th.Ticket.Assignee == nil || th.Ticket.Assignee.Email != "garnet@desk.test" {
		t.Errorf("escalation did not reassign to Garnet: %v", th.Ticket.Assignee)
	}
}

// Each ladder action's mail says what happened: how late to the second or
// how long is left, which step fired, what an escalation changed from what
// to what (and whom it took the ticket from), with the thread so far and a
// reply token.
func TestLadderMailsSayWhatHappened(t *testing.T) {
	ctx := context.Background()
	s := ladderStore(t, nil)
	if _, err := coretest.Ingest(ctx, s, greg("sla-say@example.com"), t0); err != nil {
		t.Fatal(err)
	}
	claimAll(t, s, t0)
	at := func(d time.Duration) map[string]core.OutMail {
		check(t, s, t0.Add(d))
		out := map[string]core.OutMail{}
		for _, m := range claimAll(t, s, t0.Add(d)) {
			out[m.Template+"→"+m.Data.ToEmail] = m
		}
		return out
	}
	breach := at(time.Hour + 30*time.Second)[core.TemplateSLABreach+"→admin@desk.test"]
	if breach.Data.Late != "30s" || breach.Data.Step != 1 || !strings.Contains(breach.Data.Thread, "trackpad") || breach.Data.ReplyToken == "" {
		t.Errorf("first-response breach 30 s late: %+v", breach.Data)
	}
	warn := at(3 * time.Hour)[core.TemplateSLAWarning+"→admin@desk.test"]
	if warn.Data.Left != "1h 0m 0s" || warn.Data.Late != "" || warn.Data.Step != 2 || warn.Data.Thread == "" {
		t.Errorf("warning an hour ahead: %+v", warn.Data)
	}
	at(4 * time.Hour)
	mails := at(5 * time.Hour)
	esc, toGarnet := mails[core.TemplateSLAEscalated+"→admin@desk.test"], mails[core.TemplateSLAEscalated+"→garnet@desk.test"]
	if toGarnet.ID == 0 || esc.ID == 0 {
		t.Fatalf("escalation mails %v, want the admin (whom it was taken from) and Garnet", keys(mails))
	}
	want := []string{"priority: emergency → high", "assignee: taken from Ada Admin <admin@desk.test>, given to Garnet <garnet@desk.test>"}
	if strings.Join(esc.Data.Changes, "|") != strings.Join(want, "|") || esc.Data.Late != "1h 0m 0s" ||
		esc.Data.By != "SLA plan SEV-A, step 4 of its ladder" || esc.Data.Thread == "" {
		t.Errorf("escalation says %+v, want changes %q", esc.Data, want)
	}
}

func claimAll(t *testing.T, s *core.Store, at time.Time) []core.OutMail {
	t.Helper()
	mails, err := s.ClaimOutbox(context.Background(), 1000, time.Hour, at)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mails {
		s.MarkSent(context.Background(), m, at)
	}
	return mails
}

func keys(m map[string]core.OutMail) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestLatenessToTheSecond(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 400 * time.Millisecond: "0s", 30 * time.Second: "30s", 90 * time.Second: "1m 30s",
		time.Hour + 30*time.Second: "1h 0m 30s", 50*time.Hour + 7*time.Minute: "2d 2h 7m",
	} {
		if got := core.Lateness(d); got != want {
			t.Errorf("Lateness(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestPauseAndResumeMoveDueTimes(t *testing.T) {
	ctx := context.Background()
	s := ladderStore(t, nil)
	res, err := coretest.Ingest(ctx, s, greg("sla-2@example.com"), t0)
	if err != nil {
		t.Fatal(err)
	}
	// An agent answers at +30m (first response met) and waits on Greg from +1h.
	if _, err := s.Act(ctx, res.Ticket, "admin@desk.test", nil, "Can you send a photo?", t0.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Act(ctx, res.Ticket, "admin@desk.test", []core.Command{{Name: "status", Args: []string{"pending"}}}, "", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if r := check(t, s, t0.Add(20*time.Hour)); len(r.Steps) != 0 {
		t.Errorf("a paused ticket escalated: %v", r.Steps)
	}
	// Greg answers at +20h: the clock resumes with 3h of the 4h target left.
	if _, err := s.Act(ctx, res.Ticket, "admin@desk.test", []core.Command{{Name: "status", Args: []string{"open"}}}, "", t0.Add(20*time.Hour)); err != nil {
		t.Fatal(err)
	}
	th, err := s.ShowTicket(ctx, res.Ticket)
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(23 * time.Hour); th.Ticket.ResolutionDue == nil || !th.Ticket.ResolutionDue.Equal(want) {
		t.Errorf("resolution due %v, want %v (paused 19h)", th.Ticket.ResolutionDue, want)
	}
	if th.Ticket.SLAState != "running" {
		t.Errorf("sla state %q, want running", th.Ticket.SLAState)
	}
	// First response was met: its breach never fires; the warn fires at 75 %.
	r := check(t, s, t0.Add(22*time.Hour))
	if r.Steps["warn"] != 1 || r.Steps["breach"] != 0 {
		t.Errorf("at +22h fired %v, want only the warning", r.Steps)
	}
}

func TestPlanChangeMovesDueTimes(t *testing.T) {
	ctx := context.Background()
	s := ladderStore(t, nil)
	in := greg("sla-3@example.com")
	in.Topic = "SEV-B"
	res, err := coretest.Ingest(ctx, s, in, t0)
	if err != nil {
		t.Fatal(err)
	}
	th, _ := s.ShowTicket(ctx, res.Ticket)
	if want := t0.Add(24 * time.Hour); !th.Ticket.ResolutionDue.Equal(want) {
		t.Fatalf("SEV-B resolution due %v, want %v", th.Ticket.ResolutionDue, want)
	}
	if _, err := s.Act(ctx, res.Ticket, "admin@desk.test", []core.Command{{Name: "sla", Args: []string{"SEV-A"}}}, "", t0.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	th, _ = s.ShowTicket(ctx, res.Ticket)
	if want := t0.Add(4 * time.Hour); !th.Ticket.ResolutionDue.Equal(want) {
		t.Errorf("after /sla SEV-A resolution due %v, want %v", th.Ticket.ResolutionDue, want)
	}
	if _, err := s.Act(ctx, res.Ticket, "admin@desk.test", []core.Command{{Name: "sla", Args: []string{"SEV-C"}}}, "", t0.Add(20*time.Minute)); err != nil {
		t.Fatal(err)
	}
	th, _ = s.ShowTicket(ctx, res.Ticket)
	if want := t0.Add(72 * time.Hour); !th.Ticket.ResolutionDue.Equal(want) {
		t.Errorf("after /sla SEV-C resolution due %v, want %v", th.Ticket.ResolutionDue, want)
	}
}

func TestTwoCheckersFireEachStepOnce(t *testing.T) {
	ctx := context.Background()
	s := ladderStore(t, nil)
	// A second store on the same database: another daemon.
	other := coretest.OpenSame(t, s)
	const n = 120
	for i := 0; i < n; i++ {
		in := greg(fmt.Sprintf("two-%d@example.com", i))
		in.From.Email = fmt.Sprintf("customer%d@example.com", i) // one sender would be over the new-ticket limit
		if _, err := coretest.Ingest(ctx, s, in, t0); err != nil {
			t.Fatal(err)
		}
	}
	drain(t, s, t0)
	var wg sync.WaitGroup
	results := make([]core.SLAResult, 2)
	for i, st := range []*core.Store{s, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := st.CheckSLA(ctx, t0.Add(time.Hour))
			if err != nil {
				t.Error(err)
			}
			results[i] = r
		}()
	}
	wg.Wait()
	if total := results[0].Steps["breach"] + results[1].Steps["breach"]; total != n {
		t.Errorf("breaches fired %d (%v + %v), want %d", total, results[0].Steps, results[1].Steps, n)
	}
	mails := drain(t, s, t0.Add(time.Hour))
	if got := mails[`sla_breach→"Ada Admin" <admin@desk.test>`]; got != n {
		t.Errorf("admin got %d breach alerts, want %d (one per ticket)", got, n)
	}
}

func TestBusinessHoursAndHeldAlerts(t *testing.T) {
	ctx := context.Background()
	s := ladderStore(t, func(p *core.SLAPlan) {
		p.Policy.Timezone = "Europe/Berlin"
		p.Policy.Hours = []string{"mon-fri 09:00-17:00"}
		p.Policy.HoldAlerts = true
	})
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip(err)
	}
	friday := time.Date(2026, 3, 6, 16, 0, 0, 0, berlin)
	res, err := coretest.Ingest(ctx, s, greg("bh-1@example.com"), friday)
	if err != nil {
		t.Fatal(err)
	}
	drain(t, s, friday)
	th, _ := s.ShowTicket(ctx, res.Ticket)
	if want := time.Date(2026, 3, 9, 12, 0, 0, 0, berlin); !th.Ticket.ResolutionDue.Equal(want) {
		t.Errorf("resolution due %v, want Monday 12:00 %v", th.Ticket.ResolutionDue, want)
	}
	// The first-response target (1h) runs out at 17:00 sharp, as the office closes.
	closing := time.Date(2026, 3, 6, 17, 0, 0, 0, berlin)
	if r := check(t, s, closing); r.Steps["breach"] != 1 {
		t.Fatalf("at Friday 17:00 fired %v, want the first-response breach", r.Steps)
	}
	if mails := drain(t, s, closing.Add(2*time.Hour)); len(mails) != 0 {
		t.Errorf("alerts sent on Friday evening: %v; they should wait for Monday", mails)
	}
	monday := time.Date(2026, 3, 9, 9, 0, 0, 0, berlin)
	if mails := drain(t, s, monday); mails[`sla_breach→"Ada Admin" <admin@desk.test>`] != 1 {
		t.Errorf("Monday 09:00 mails %v, want the held breach alert", mails)
	}
}
