package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"helpdesk/core/coretest"
	"helpdesk/core/pglocal"

	"github.com/jackc/pgx/v5"
)

// The backup procedure of docs/operations.md, proved: pg_dump a database
// the daemon filled, pg_restore it into an empty one, and every ticket
// reads the same there; a daemon on the restored database goes on at the
// right UID, taking the next mail and none of the old ones again.
func TestBackupAndRestore(t *testing.T) {
	pgTool := func(name string) string {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		bin, err := pglocal.FindBinaries()
		if err != nil {
			t.Skipf("no %s: %v", name, err)
		}
		return filepath.Join(bin, name)
	}
	r := newRig(t)
	r.seen = map[string]bool{}
	r.start()
	c := r.support.Dial(t)
	for i := 1; i <= 3; i++ {
		r.support.Append(t, c, "INBOX", customerMail(fmt.Sprintf("C%d <c%d@example.com>", i, i), "support@desk.test",
			fmt.Sprintf("Question %d", i), fmt.Sprintf("bk-%d@example.com", i), "Hello."))
	}
	tickets := r.waitTickets(3)
	for _, tk := range tickets {
		r.waitSent(tk.Customer.Email, tk.Tag())
	}
	r.kill(15)
	cfg, _ := os.ReadFile(r.config)
	oldURL, _ := LoadConfig(r.config)

	dump := filepath.Join(t.TempDir(), "helpdesk.dump")
	if out, err := exec.Command(pgTool("pg_dump"), "-Fc", "-f", dump, oldURL.DatabaseURL).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}
	newURL := coretest.EmptyURL(t)
	if out, err := exec.Command(pgTool("pg_restore"), "--no-owner", "-d", newURL, dump).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}
	restored := filepath.Join(t.TempDir(), "restored.toml")
	os.WriteFile(restored, []byte(strings.Replace(string(cfg), oldURL.DatabaseURL, newURL, 1)), 0o600)
	for _, tk := range tickets {
		before := r.cli("ticket", "show", fmt.Sprint(tk.Number), "--json")
		after := r.cli("ticket", "show", fmt.Sprint(tk.Number), "--json", "-config", restored)
		if before != after {
			t.Errorf("ticket %d differs after the restore:\n%s\n%s", tk.Number, before, after)
		}
	}

	// The daemon on the restored database: the next mail, and only it,
	// from the checkpoint the dump kept.
	if cp := checkpointUID(t, newURL); cp != 3 {
		t.Fatalf("restored checkpoint at uid %d, want 3", cp)
	}
	r.config = restored
	r.start()
	r.support.Append(t, c, "INBOX", customerMail("C4 <c4@example.com>", "support@desk.test", "Question 4", "bk-4@example.com", "Hello."))
	if list := r.waitTickets(4); len(list) != 4 || list[0].Customer.Email != "c4@example.com" {
		t.Fatalf("after the restore: %d tickets, newest %v; want the old three and the new one", len(list), list[0].Customer)
	}
	if cp := checkpointUID(t, newURL); cp != 4 {
		t.Errorf("checkpoint at uid %d after the next mail, want 4", cp)
	}
}

func checkpointUID(t *testing.T, url string) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var uid int
	conn.QueryRow(context.Background(), `SELECT last_uid FROM mailbox_checkpoints WHERE mailbox = 'support'`).Scan(&uid)
	return uid
}
