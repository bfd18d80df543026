package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestCrashLoop kills the daemon with SIGKILL at random moments while a few
// thousand messages arrive and their acknowledgements go out, restarts it,
// and checks that every message was stored once, made one ticket entry and
// one queued acknowledgement, that none of those was lost, and that the
// checkpoint ends at the last UID. It reports how many acknowledgements the
// SMTP peer saw twice (mail in flight at a kill). It takes minutes, so it
// runs only when asked:
//
//	HELPDESK_CRASH_MESSAGES=2000 scripts/test -run CrashLoop -v ./cmd/helpdesk
//
// crashConns is the crash loop's SMTP connections.
const crashConns = 8

func TestCrashLoop(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("HELPDESK_CRASH_MESSAGES"))
	if n <= 0 {
		t.Skip("set HELPDESK_CRASH_MESSAGES to run the crash loop")
	}
	r := newRig(t)
	cfg, _ := os.ReadFile(r.config)
	// Short lease: mail held by a killed sender comes back in seconds.
	os.WriteFile(r.config, []byte(strings.Replace(string(cfg), "[smtp]\n", fmt.Sprintf("[smtp]\nlease = \"5s\"\nconnections = %d\n", crashConns), 1)), 0o600)
	cfgv, err := LoadConfig(r.config)
	if err != nil {
		t.Fatal(err)
	}
	db, err := pgx.Connect(context.Background(), cfgv.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	count := func(sql string) int {
		var c int
		if err := db.QueryRow(context.Background(), sql).Scan(&c); err != nil {
			return -1 // schema not there yet
		}
		return c
	}

	c := r.support.Dial(t)
	appended := make(chan struct{})
	go func() {
		defer close(appended)
		for i := 0; i < n; i++ {
			r.support.Append(t, c, "INBOX", customerMail(fmt.Sprintf("C%d <c%d@example.org>", i, i), "support@desk.test",
				fmt.Sprintf("Crash %d", i), fmt.Sprintf("crash-%d@example.org", i), "Body."))
		}
	}()
	kills := 0
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		r.start()
		time.Sleep(time.Duration(150+rand.IntN(900)) * time.Millisecond)
		r.kill(syscall.SIGKILL)
		kills++
		select {
		case <-appended:
			if count(`SELECT count(*) FROM messages`) >= n {
				goto settle
			}
		default:
		}
	}
	t.Fatalf("not all messages stored after %d kills", kills)
settle:
	// A last, undisturbed run drains the outbox.
	r.start()
	for time.Now().Before(deadline) && count(`SELECT count(*) FROM outbox WHERE state = 'pending'`) != 0 {
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(time.Second)
	r.kill(syscall.SIGTERM)

	stored := count(`SELECT count(*) FROM messages`)
	tickets := count(`SELECT count(*) FROM tickets`)
	entries := count(`SELECT count(*) FROM entries WHERE kind = 'message'`)
	acks := count(`SELECT count(*) FROM outbox WHERE template = 'ack'`)
	unsent := count(`SELECT count(*) FROM outbox WHERE state <> 'sent'`)
	badTickets := count(`SELECT count(*) FROM (SELECT ticket_id FROM entries WHERE kind = 'message' GROUP BY ticket_id HAVING count(*) <> 1) x`)
	var lastUID int
	db.QueryRow(context.Background(), `SELECT last_uid FROM mailbox_checkpoints WHERE mailbox = 'support'`).Scan(&lastUID)
	delivered := map[string]int{}
	for _, m := range r.sink.Mails() {
		if strings.HasPrefix(m.To[0], "c") && strings.HasSuffix(m.To[0], "@example.org") {
			delivered[m.To[0]]++
		}
	}
	twice := 0
	for _, k := range delivered {
		if k > 1 {
			twice += k - 1
		}
	}
	t.Logf("%d messages, %d kills: stored %d, tickets %d, message entries %d, acks queued %d, unsent %d, checkpoint uid %d, "+
		"acks delivered to %d customers, %d sent twice", n, kills, stored, tickets, entries, acks, unsent, lastUID, len(delivered), twice)
	for name, got := range map[string]int{"stored messages": stored, "tickets": tickets, "message entries": entries,
		"queued acknowledgements": acks, "customers who got their acknowledgement": len(delivered), "checkpoint uid": lastUID} {
		if got != n {
			t.Errorf("%s: %d, want %d", name, got, n)
		}
	}
	// A kill can resend only the mails on the wire at that moment: sent, not
	// yet recorded. The sender holds at most one per connection.
	if twice > kills*crashConns {
		t.Errorf("%d mails sent twice over %d kills, want at most %d per kill", twice, kills, crashConns)
	}
	if badTickets != 0 || unsent != 0 {
		t.Errorf("%d tickets without exactly one message entry, %d mails never sent", badTickets, unsent)
	}
}
