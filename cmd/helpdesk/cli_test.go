package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helpdesk/core/coretest"
)

func runCLI(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return out.String() + errOut.String(), err
}

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if err != nil {
		return 1
	}
	return 0
}

// brokenExample writes the example config with from replaced by to, and
// returns its path and text; the example must contain from.
func brokenExample(t *testing.T, example []byte, from, to string) (path, text string) {
	t.Helper()
	bad := strings.Replace(string(example), from, to, 1)
	if bad == string(example) {
		t.Fatalf("the example has no %q to break", from)
	}
	path = filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, bad
}

func TestCheckConfigExamplePasses(t *testing.T) {
	out, err := runCLI(t, "", "check-config", "../../helpdesk.example.toml")
	if err != nil {
		t.Fatalf("example config: %v\n%s", err, out)
	}
	if !strings.Contains(out, "ok (2 mailboxes, 2 agents") {
		t.Errorf("got %q, want a summary", out)
	}
}

func TestCheckConfigNamesKeyAndLine(t *testing.T) {
	example, err := os.ReadFile("../../helpdesk.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, from, to, want string
	}{
		{"bad role", `role = "agent"`, `role = "boss"`, `agents[1].role: role must be "admin" or "agent"`},
		{"unknown plan", `sla_plan = "SEV-B"`, `sla_plan = "SEV-X"`, `help_topics[1].sla_plan: no SLA plan named "SEV-X"`},
		{"wrong type", "port = 993\ntls", "port = \"x\"\ntls", `mailboxes.port: incompatible types`},
		{"unknown key", "[sla]\n", "[sla]\nfrequency = 3\n", `sla.frequency: unknown key`},
		{"bad tls", `tls = "starttls"`, `tls = "maybe"`, `smtp.tls: tls must be`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path, bad := brokenExample(t, example, c.from, c.to)
			out, err := runCLI(t, "", "check-config", path)
			if exitCode(err) != 78 {
				t.Fatalf("exit %d, want 78 (EX_CONFIG); output %q", exitCode(err), out)
			}
			// The error names the line where the broken text is.
			line := strings.Count(bad[:strings.Index(bad, c.to)], "\n") + 1
			if strings.HasPrefix(c.to, "[") { // a new key below a table header
				line++
			}
			if want := fmt.Sprintf(":%d: %s", line, c.want); !strings.Contains(err.Error(), want) {
				t.Errorf("error %q, want it to contain %q", err, want)
			}
		})
	}
}

func TestPipeTempFailsWhenDatabaseIsDown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.toml")
	// Port 1 on loopback: nothing listens, the connection is refused at once.
	os.WriteFile(path, []byte(`database_url = "postgres://helpdesk@127.0.0.1:1/helpdesk?connect_timeout=2"`+"\n"), 0o600)
	msg := "From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n"
	_, err := runCLI(t, msg, "pipe", "-config", path)
	if code := exitCode(err); code != exTempFail {
		t.Fatalf("exit %d (%v), want %d so the MTA retries", code, err, exTempFail)
	}
}

func TestPipeStoresOnceAndListsAsJSON(t *testing.T) {
	url := coretest.URL(t)
	path := filepath.Join(t.TempDir(), "h.toml")
	os.WriteFile(path, []byte(`database_url = "`+url+`"`+"\ndomain = \"desk.test\"\n"), 0o600)
	if out, err := runCLI(t, "", "migrate", "-config", path); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	msg := "From: Greg <greg@example.com>\r\nMessage-ID: <pipe-1@example.com>\r\nSubject: Trackpad\r\n\r\nIt is dead.\r\n"
	for i := 0; i < 2; i++ { // the MTA may deliver twice; we store once
		if out, err := runCLI(t, msg, "pipe", "-config", path); err != nil {
			t.Fatalf("pipe: %v\n%s", err, out)
		}
	}
	out, err := runCLI(t, "", "ticket", "list", "--json", "-config", path)
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(list) != 1 {
		t.Fatalf("got %d tickets, want 1", len(list))
	}
	for _, key := range []string{"number", "subject", "status", "priority", "customer", "overdue", "created_at"} {
		if _, ok := list[0][key]; !ok {
			t.Errorf("ticket JSON lacks %q: %v", key, list[0])
		}
	}
	out, err = runCLI(t, "", "ticket", "show", "[#1001]", "-config", path)
	if err != nil || !strings.Contains(out, "It is dead.") {
		t.Errorf("ticket show: %v\n%s", err, out)
	}
}

// A missing or malformed ID after show, retry or release is a usage error
// (exit 2) naming the command, not a failed lookup.
func TestIDArgument(t *testing.T) {
	if id, err := idArgument("spam show", []string{"42"}); err != nil || id != 42 {
		t.Fatalf("42: %d, %v", id, err)
	}
	for _, pos := range [][]string{nil, {"x"}, {"1", "2"}} {
		if _, err := idArgument("spam show", pos); exitCode(err) != 2 || !strings.Contains(err.Error(), "spam show") {
			t.Errorf("%q: exit %d, %v; want a usage error naming spam show", pos, exitCode(err), err)
		}
	}
}
