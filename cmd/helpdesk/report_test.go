package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helpdesk/core"
	"helpdesk/core/coretest"
)

// helpdesk report in each form: a table, JSON for programs, CSV for
// spreadsheets; a wrong grouping or period is a usage error.
func TestReportCommand(t *testing.T) {
	s := coretest.SeededStore(t)
	ctx := context.Background()
	now := time.Now()
	res, err := coretest.Ingest(ctx, s, &core.Inbound{Mailbox: "emergency", MessageID: "rep-cli@example.com", Topic: "SEV-A",
		From: core.Address{Name: "Greg", Email: "greg@example.com"}, Subject: "Trackpad", Text: "Dead.", Class: core.ClassHuman,
		Raw: []byte("x")}, now.Add(-2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Act(ctx, res.Ticket, "admin@desk.test", nil, "On it.", now.Add(-90*time.Minute)); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "h.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("database_url = %q\ndomain = \"desk.test\"\nsecret = \"x\"\n", s.URL())), 0o600)

	out, err := runCLI(t, "", "report", "--by", "plan", "--json", "--config", cfg)
	if err != nil {
		t.Fatalf("report --json: %v\n%s", err, out)
	}
	var r core.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("report --json: %v\n%s", err, out)
	}
	if len(r.Groups) != 1 || r.Groups[0].Key != "SEV-A" || r.Groups[0].Opened != 1 ||
		r.Groups[0].FirstResponse.Median != 30*time.Minute || r.Groups[0].FirstResponse.WithinTarget != 100 {
		t.Errorf("report --json groups %+v", r.Groups)
	}
	out, err = runCLI(t, "", "report", "--by", "plan", "--csv", "--config", cfg)
	rows, cerr := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || cerr != nil || len(rows) != 2 || rows[0][0] != "group" || rows[1][0] != "SEV-A" || rows[1][6] != "30.0" {
		t.Errorf("report --csv: %v %v\n%s", err, cerr, out)
	}
	out, err = runCLI(t, "", "report", "--config", cfg)
	if err != nil || !strings.Contains(out, "30m 0s") || !strings.Contains(out, "backlog now") {
		t.Errorf("report: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"--by", "colour"}, {"--from", "2026-03-09", "--to", "2026-03-02"}, {"--from", "yesterday"}} {
		if _, err := runCLI(t, "", append([]string{"report", "--config", cfg}, args...)...); exitCode(err) != 2 {
			t.Errorf("report %v: exit %d, want 2", args, exitCode(err))
		}
	}
}
