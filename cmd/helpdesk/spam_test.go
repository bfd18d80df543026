package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"helpdesk/core/coretest"
)

// Spam judged by trusted headers is listed, shown byte for byte, and
// released into a ticket; blocks are added, listed and removed.
func TestSpamAndBlockCommands(t *testing.T) {
	cfg := pipeConfig(t, coretest.URL(t))
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(b, []byte("\n[spam]\ntrust_headers = true\n")...), 0o644)
	msg := "X-Spam-Status: Yes, score=6.1 required=5.0 tests=BAYES_99\r\nFrom: Newsletter <news@shop.example>\r\n" +
		"Subject: Our offers\r\nMessage-ID: <offer-1@shop.example>\r\n\r\nActually a real customer question.\r\n"
	if out, err := runCLI(t, msg, "pipe", "-config", cfg); err != nil {
		t.Fatalf("pipe: %v\n%s", err, out)
	}
	out, err := runCLI(t, "", "spam", "list", "--json", "-config", cfg)
	if err != nil {
		t.Fatalf("spam list: %v\n%s", err, out)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 || !strings.Contains(list[0]["reason"].(string), "6.1") {
		t.Fatalf("spam list %s (%v)", out, err)
	}
	if out, _ := runCLI(t, "", "spam", "show", "1", "-config", cfg); out != msg {
		t.Errorf("spam show gave %q, want the raw message", out)
	}
	if out, err := runCLI(t, "", "spam", "release", "1", "-config", cfg); err != nil || !strings.Contains(out, "new ticket") {
		t.Fatalf("spam release: %v\n%s", err, out)
	}
	if out, _ := runCLI(t, "", "ticket", "list", "-config", cfg); !strings.Contains(out, "Our offers") {
		t.Errorf("no ticket after release:\n%s", out)
	}
	if out, _ := runCLI(t, "", "spam", "list", "-config", cfg); strings.Contains(out, "offer") {
		t.Errorf("released message still listed:\n%s", out)
	}

	if out, err := runCLI(t, "", "block", "add", "@bulk.example", "--reason", "floods us", "-config", cfg); err != nil {
		t.Fatalf("block add: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "", "block", "add", "not an address", "-config", cfg); err == nil {
		t.Errorf("block add accepted a bad pattern")
	}
	blocked := "From: Bulk <any@bulk.example>\r\nSubject: Hi\r\nMessage-ID: <b-1@bulk.example>\r\n\r\nHello.\r\n"
	runCLI(t, blocked, "pipe", "-config", cfg)
	if out, _ := runCLI(t, "", "spam", "list", "-config", cfg); !strings.Contains(out, "sender blocked (@bulk.example)") {
		t.Errorf("blocked sender's mail not spam:\n%s", out)
	}
	if out, _ := runCLI(t, "", "block", "list", "-config", cfg); !strings.Contains(out, "floods us") {
		t.Errorf("block list:\n%s", out)
	}
	if out, err := runCLI(t, "", "block", "remove", "@bulk.example", "-config", cfg); err != nil {
		t.Errorf("block remove: %v\n%s", err, out)
	}
	if out, _ := runCLI(t, "", "block", "list", "-config", cfg); strings.Contains(out, "bulk") {
		t.Errorf("block still listed:\n%s", out)
	}
}

// Mail that opened no ticket is found with `messages list --unthreaded`
// and printed byte for byte with `messages show`.
func TestMessagesFindsUnthreadedMail(t *testing.T) {
	cfg := pipeConfig(t, coretest.URL(t))
	invoice := "From: Billing <no-reply@billing.example>\r\nSubject: Your invoice\r\nMessage-ID: <inv-1@billing.example>\r\n\r\nAttached.\r\n"
	customer := "From: Ann <ann@example.com>\r\nSubject: Help\r\nMessage-ID: <ann-1@example.com>\r\n\r\nHelp me.\r\n"
	for _, m := range []string{invoice, customer} {
		if out, err := runCLI(t, m, "pipe", "-config", cfg); err != nil {
			t.Fatalf("pipe: %v\n%s", err, out)
		}
	}
	out, err := runCLI(t, "", "messages", "list", "--unthreaded", "--json", "-config", cfg)
	if err != nil {
		t.Fatalf("messages list: %v\n%s", err, out)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 || list[0]["message_id"] != "inv-1@billing.example" {
		t.Fatalf("unthreaded messages %s (%v), want the invoice alone", out, err)
	}
	id := strconv.Itoa(int(list[0]["id"].(float64)))
	if out, _ := runCLI(t, "", "messages", "show", id, "-config", cfg); out != invoice {
		t.Errorf("messages show gave %q", out)
	}
}

// An authserv-id alone is not believed: the operator must declare that the
// MX writes and strips Authentication-Results, and check-config says so.
func TestAuthResultsTrustNeedsDeclaration(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "h.toml")
	os.WriteFile(path, []byte("trusted_authserv_id = \"mx.example.com\"\n"), 0o600)
	out, err := runCLI(t, "", "check-config", path)
	if err != nil || !strings.Contains(out, "trust_authentication_results") {
		t.Errorf("check-config: %v\n%s", err, out)
	}
	cfg, err := LoadConfig(path)
	if err != nil || cfg.AuthServID() != "" {
		t.Errorf("undeclared authserv-id believed: %q (%v)", cfg.AuthServID(), err)
	}
	os.WriteFile(path, []byte("trusted_authserv_id = \"mx.example.com\"\ntrust_authentication_results = true\n"), 0o600)
	if cfg, err := LoadConfig(path); err != nil || cfg.AuthServID() != "mx.example.com" {
		t.Errorf("declared authserv-id not believed (%v)", err)
	}
	os.WriteFile(path, []byte("agent_auth = \"token+dkim\"\n"), 0o600)
	if _, err := runCLI(t, "", "check-config", path); exitCode(err) != 78 || !strings.Contains(fmt.Sprint(err), "needs a DKIM result") {
		t.Errorf("token+dkim without a DKIM source accepted: %v", err)
	}
}
