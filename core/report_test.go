package core_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"helpdesk/core"
	"helpdesk/core/coretest"
)

// reportHistory is a week worked by hand, on SEV-A (24×7: first response
// 1h, resolution 4h) and SEV-B (Mon–Fri 09:00–17:00: 4h and 24h), from
// Monday t0 (09:00 UTC):
//
//	A (SEV-A): opened Mon 09:00, answered 09:30, resolved 11:00, reopened
//	  Tue 10:00, resolved again 12:00: resolution 2h + 2h = 4h (on target).
//	B (SEV-B): opened Mon 16:00, answered Tue 10:00 (1h Mon + 1h Tue = 2h),
//	  pending Tue 11:00 to Wed 09:00 (paused), resolved Wed 15:00:
//	  1h + 2h + 6h = 9h.
//	C (SEV-A): opened Mon 10:00, answered 12:00 (2h: late), given to
//	  Garnet 13:00, still open. The checker at 11:30 breaches its first
//	  response (step 2), at 13:30 warns of its resolution (step 1).
func reportHistory(t *testing.T) *core.Store {
	t.Helper()
	ctx := context.Background()
	s := coretest.NewStore(t)
	dir := coretest.Seed
	dir.SLAPlans = append([]core.SLAPlan(nil), dir.SLAPlans...)
	dir.SLAPlans[1].Policy = core.SLAPolicy{Hours: []string{"mon-fri 09:00-17:00"}}
	if err := s.SyncDirectory(ctx, dir); err != nil {
		t.Fatal(err)
	}
	at := func(day int, hour, minute int) time.Time {
		return t0.Add(time.Duration(day)*24*time.Hour + time.Duration(hour-9)*time.Hour + time.Duration(minute)*time.Minute)
	}
	open := func(id, topic string, when time.Time) int64 {
		in := greg(id + "@example.com")
		in.Topic, in.From.Email, in.Subject = topic, id+"@example.com", "Ticket "+id
		res, err := coretest.Ingest(ctx, s, in, when)
		if err != nil {
			t.Fatal(err)
		}
		return res.Ticket
	}
	act := func(n int64, who string, when time.Time, body string, cmds ...core.Command) {
		if _, err := s.Act(ctx, n, who, cmds, body, when); err != nil {
			t.Fatalf("ticket %d at %v: %v", n, when, err)
		}
	}
	cmd := func(name string, args ...string) core.Command { return core.Command{Name: name, Args: args} }
	a := open("a", "SEV-A", at(0, 9, 0))
	c := open("c", "SEV-A", at(0, 10, 0))
	b := open("b", "SEV-B", at(0, 16, 0))
	act(a, "admin@desk.test", at(0, 9, 30), "Try the function key.")
	act(a, "admin@desk.test", at(0, 11, 0), "", cmd("resolve"))
	if _, err := s.CheckSLA(ctx, at(0, 11, 30)); err != nil {
		t.Fatal(err)
	}
	act(c, "admin@desk.test", at(0, 12, 0), "Looking into it.")
	act(c, "admin@desk.test", at(0, 13, 0), "", cmd("assign", "garnet@desk.test"))
	if _, err := s.CheckSLA(ctx, at(0, 13, 30)); err != nil {
		t.Fatal(err)
	}
	act(a, "admin@desk.test", at(1, 10, 0), "", cmd("reopen"))
	act(b, "garnet@desk.test", at(1, 10, 0), "Which portal?")
	act(b, "garnet@desk.test", at(1, 11, 0), "", cmd("status", "pending"))
	act(a, "admin@desk.test", at(1, 12, 0), "", cmd("resolve"))
	act(b, "garnet@desk.test", at(2, 9, 0), "", cmd("status", "open"))
	act(b, "garnet@desk.test", at(2, 15, 0), "", cmd("resolve"))
	return s
}

func TestReportFiguresByPlan(t *testing.T) {
	s := reportHistory(t)
	week := core.ReportOptions{From: t0.Add(-9 * time.Hour), To: t0.Add(-9*time.Hour + 7*24*time.Hour), By: core.ByPlan}
	r, err := s.Report(context.Background(), week)
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string]core.ReportGroup{}
	for _, g := range r.Groups {
		groups[g.Key] = g
	}
	if len(groups) != 2 {
		t.Fatalf("groups %v, want SEV-A and SEV-B", r.Groups)
	}
	sevA, sevB := groups["SEV-A"], groups["SEV-B"]
	want := []struct {
		name      string
		got, want any
	}{
		{"SEV-A opened", sevA.Opened, 2},
		{"SEV-A first responses", sevA.FirstResponse, core.Timing{Count: 2, Median: 30 * time.Minute, P90: 2 * time.Hour, WithinTarget: 50, Targeted: 2}},
		{"SEV-A resolutions", sevA.Resolution, core.Timing{Count: 1, Median: 4 * time.Hour, P90: 4 * time.Hour, WithinTarget: 100, Targeted: 1}},
		{"SEV-A resolved/reopened", [3]any{sevA.Resolved, sevA.Reopened, sevA.ReopenRate}, [3]any{1, 1, 1.0}},
		{"SEV-A breaches", len(sevA.Breaches), 2},
		{"SEV-A first-response breach", sevA.Breaches["2: breach first_response"], 1},
		{"SEV-A resolution warning", sevA.Breaches["1: warn resolution"], 1},
		{"SEV-B opened", sevB.Opened, 1},
		{"SEV-B first responses", sevB.FirstResponse, core.Timing{Count: 1, Median: 2 * time.Hour, P90: 2 * time.Hour, WithinTarget: 100, Targeted: 1}},
		{"SEV-B resolutions", sevB.Resolution, core.Timing{Count: 1, Median: 9 * time.Hour, P90: 9 * time.Hour, WithinTarget: 100, Targeted: 1}},
		{"SEV-B resolved/reopened", [3]any{sevB.Resolved, sevB.Reopened, sevB.ReopenRate}, [3]any{1, 0, 0.0}},
		{"backlog", r.Backlog, []core.BacklogCount{{Status: core.StatusOpen, Age: "3-7d", Count: 1}}},
		{"breaches listed", len(r.Breaches), 2},
		{"oldest open", len(r.Oldest), 1},
	}
	for _, w := range want {
		if !equal(w.got, w.want) {
			t.Errorf("%s: got %+v, want %+v", w.name, w.got, w.want)
		}
	}
	if len(r.Oldest) == 1 && (r.Oldest[0].Subject != "Ticket c" || r.Oldest[0].Assignee != "garnet@desk.test") {
		t.Errorf("oldest open %+v, want ticket c with Garnet", r.Oldest[0])
	}
	load := map[string]core.AgentLoad{}
	for _, l := range r.Load {
		load[l.Agent.Email] = l
	}
	if l := load["admin@desk.test"]; l.Open != 0 || l.Replied != 2 {
		t.Errorf("admin's load %+v, want 0 open (C went to Garnet) and 2 replies", l)
	}
	if l := load["garnet@desk.test"]; l.Open != 1 || l.Replied != 1 {
		t.Errorf("Garnet's load %+v, want 1 open and 1 reply", l)
	}
}

// Another period sees only its own events: the week after has no openings
// and no timings, but the same backlog.
func TestReportPeriodBounds(t *testing.T) {
	s := reportHistory(t)
	from := t0.Add(-9*time.Hour + 7*24*time.Hour)
	r, err := s.Report(context.Background(), core.ReportOptions{From: from, To: from.Add(7 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Groups) != 0 || len(r.Breaches) != 0 {
		t.Errorf("the next week: groups %+v breaches %+v, want none", r.Groups, r.Breaches)
	}
	if len(r.Backlog) != 1 || r.Backlog[0].Age != "7-30d" {
		t.Errorf("backlog a week later %+v, want C at 7-30d", r.Backlog)
	}
	// Tuesday alone: A's reopening and second resolution, B's answer.
	tue := t0.Add(-9*time.Hour + 24*time.Hour)
	r, err = s.Report(context.Background(), core.ReportOptions{From: tue, To: tue.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Groups) != 1 || r.Groups[0].Opened != 0 || r.Groups[0].Reopened != 1 || r.Groups[0].Resolved != 1 ||
		r.Groups[0].FirstResponse.Count != 1 || r.Groups[0].FirstResponse.Median != 2*time.Hour {
		t.Errorf("Tuesday: %+v", r.Groups)
	}
}

func TestReportByTeam(t *testing.T) {
	s := reportHistory(t)
	r, err := s.Report(context.Background(), core.ReportOptions{From: t0.Add(-9 * time.Hour), To: t0.Add(7 * 24 * time.Hour), By: core.ByTeam})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Groups) != 2 || r.Groups[0].Key != "" || r.Groups[0].Opened != 2 || r.Groups[1].Key != "Level 1 Support" || r.Groups[1].Opened != 1 {
		t.Errorf("by team: %+v, want A and C without a team, B on Level 1 Support", r.Groups)
	}
}

func equal(a, b any) bool { return fmt.Sprintf("%#v", a) == fmt.Sprintf("%#v", b) }

// The weekly report goes to the admins once a day however many daemons
// run, with the week by plan, its totals and the week before.
func TestWeeklyReportMailedOnce(t *testing.T) {
	s := reportHistory(t)
	ctx := context.Background()
	end := t0.Add(-9*time.Hour + 7*24*time.Hour)
	other := coretest.OpenSame(t, s)
	claimAll(t, s, end)
	for _, st := range []*core.Store{s, other, s} {
		if _, err := st.SendWeeklyReport(ctx, end); err != nil {
			t.Fatal(err)
		}
	}
	var reports []core.OutMail
	for _, m := range claimAll(t, s, end) {
		if m.Template == core.TemplateReport {
			reports = append(reports, m)
		}
	}
	if len(reports) != 1 || reports[0].Data.ToEmail != "admin@desk.test" {
		t.Fatalf("%d report mails, want one to the admin", len(reports))
	}
	r := reports[0].Data.Report
	if r == nil || len(r.Week.Groups) != 2 || r.Week.Total.Opened != 3 || r.Week.Total.Resolved != 2 || r.Previous.Opened != 0 {
		t.Fatalf("report mail data %+v", r)
	}
	trends := map[string]core.Trend{}
	for _, tr := range r.Trends() {
		trends[tr.Name] = tr
	}
	if tr := trends["Tickets opened"]; tr.Now != "3" || tr.Before != "0" || tr.Change != "+3" {
		t.Errorf("opened trend %+v", tr)
	}
	if tr := trends["First response, median"]; tr.Now != "2h 0m 0s" || tr.Change != "-" {
		t.Errorf("first response trend %+v (3 answers: 30m, 2h, 2h; none the week before)", tr)
	}
}

// A dashboard link opens its own week until it expires; forged links, other
// kinds of link and expired ones do not.
func TestReportLinks(t *testing.T) {
	s := coretest.NewStore(t)
	end := t0.Add(7 * 24 * time.Hour)
	tok := s.ReportToken(end, end.Add(time.Hour))
	if got, ok := s.ParseReportToken(tok, end); !ok || !got.Equal(end) {
		t.Errorf("valid link: %v %v", got, ok)
	}
	if _, ok := s.ParseReportToken(tok, end.Add(2*time.Hour)); ok {
		t.Error("an expired link opened")
	}
	if _, ok := s.ParseReportToken(tok[:len(tok)-2]+"zz", end); ok {
		t.Error("a forged link opened")
	}
	if _, ok := s.ParseReportToken(s.StatusToken(end.Unix(), end.Add(time.Hour)), end); ok {
		t.Error("a status link opened the dashboard")
	}
}
