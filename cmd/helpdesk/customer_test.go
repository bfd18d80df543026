package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"helpdesk/core"
	"helpdesk/core/coretest"
)

// A privacy request: export gives the customer's tickets, threads and raw
// mail; erase removes their name, address, mail, files and text, keeping
// the ticket numbers and events, and records who did it.
func TestCustomerExportAndErase(t *testing.T) {
	url := coretest.URL(t)
	cfg := pipeConfig(t, url)
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(b, []byte("\n[[agents]]\nemail = \"admin@desk.test\"\nname = \"Ada Admin\"\nrole = \"admin\"\n")...), 0o644)
	runCLI(t, "", "migrate", "-config", cfg)
	if out, err := runCLI(t, mailWithPDF("ann-1@example.com"), "pipe", "-config", cfg); err != nil {
		t.Fatalf("pipe: %v\n%s", err, out)
	}
	dir := t.TempDir()
	if out, err := runCLI(t, "", "customer", "export", "greg@example.com", "-o", dir, "-config", cfg); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	var x core.CustomerExport
	j, _ := os.ReadFile(filepath.Join(dir, "customer.json"))
	if err := json.Unmarshal(j, &x); err != nil || len(x.Tickets) != 1 || x.Customer.Email != "greg@example.com" {
		t.Fatalf("customer.json %s (%v)", j, err)
	}
	if mbox, _ := os.ReadFile(filepath.Join(dir, "messages.mbox")); !strings.HasPrefix(string(mbox), "From greg@example.com ") ||
		!strings.Contains(string(mbox), "Message-ID: <ann-1@example.com>") {
		t.Errorf("messages.mbox:\n%.300s", mbox)
	}

	if _, err := runCLI(t, "", "customer", "erase", "greg@example.com", "--as", "nobody@desk.test", "-config", cfg); err == nil {
		t.Errorf("a non-admin erased a customer")
	}
	if out, err := runCLI(t, "", "customer", "erase", "greg@example.com", "--as", "admin@desk.test", "-config", cfg); err != nil {
		t.Fatalf("erase: %v\n%s", err, out)
	}
	out, _ := runCLI(t, "", "ticket", "show", "1001", "--json", "-config", cfg)
	if strings.Contains(out, "greg") || strings.Contains(out, "Greg") || strings.Contains(out, "trackpad log.pdf") ||
		!strings.Contains(out, core.ErasedText) || !strings.Contains(out, `"event": "erased"`) {
		t.Errorf("ticket after the erasure:\n%s", out)
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var left int
	conn.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM messages WHERE position('greg@example.com' in convert_from(raw, 'UTF8')) > 0)
		+ (SELECT count(*) FROM outbox WHERE to_email = 'greg@example.com' OR recipient LIKE '%greg%')
		+ (SELECT count(*) FROM customers WHERE email = 'greg@example.com')`).Scan(&left)
	if left != 0 {
		t.Errorf("%d rows still name greg@example.com", left)
	}
	if _, err := runCLI(t, "", "customer", "export", "greg@example.com", "-o", t.TempDir(), "-config", cfg); err == nil {
		t.Errorf("an erased customer can still be exported")
	}
}
