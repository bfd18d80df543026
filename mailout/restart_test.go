package mailout_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"helpdesk/core"
	"helpdesk/core/coretest"
	"helpdesk/core/pglocal"
	"helpdesk/mailout"
	"helpdesk/mailout/mailouttest"
)

// TestDatabaseRestartSendsNothingTwice restarts PostgreSQL (a private
// server of its own, with real commits) while the sender drains an outbox,
// and counts what the SMTP peer received: every mail once, none twice, none
// lost. HELPDESK_DB_RESTARTS sets the number of restarts (default 2; the
// restart loop, scripts/restart, runs more).
func TestDatabaseRestartSendsNothingTwice(t *testing.T) {
	restarts, _ := strconv.Atoi(os.Getenv("HELPDESK_DB_RESTARTS"))
	if restarts <= 0 {
		restarts = 2
	}
	if _, err := pglocal.FindBinaries(); err != nil {
		if coretest.Required() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir, err := os.MkdirTemp("", "hdpg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	pg, err := pglocal.Start(ctx, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	s, err := core.Open(ctx, pg.URL(), core.Options{Domain: "desk.test", Secret: coretest.Secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncDirectory(ctx, coretest.Seed); err != nil {
		t.Fatal(err)
	}
	const customers = 600
	var batch []*core.Inbound
	for i := 0; i < customers; i++ {
		batch = append(batch, &core.Inbound{Mailbox: "support", MessageID: fmt.Sprintf("restart-%d@example.com", i),
			From: core.Address{Name: "C", Email: fmt.Sprintf("c%d@example.com", i)}, Subject: fmt.Sprintf("Restart %d", i),
			Text: "Hello.", Class: core.ClassHuman, Raw: []byte(strconv.Itoa(i))})
	}
	if _, err := s.IngestBatch(ctx, batch, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	st, _ := s.OutboxStats(ctx)
	queued := int(st.Pending)

	sink := mailouttest.Start(t)
	sink.Delay(2 * time.Millisecond) // a peer that takes its time: restarts land mid-send
	clk := &clock{t: time.Now()}
	startSender(t, s, sink, clk, func(snd *mailout.Sender) { snd.Conns, snd.Now = 4, time.Now })
	for r := 0; r < restarts; r++ {
		time.Sleep(300 * time.Millisecond)
		pg.Stop()
		time.Sleep(time.Second)
		if pg, err = pglocal.Start(ctx, dir, quiet); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if st, err = s.OutboxStats(ctx); err == nil && st.Pending == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	seen := map[string]int{}
	for _, m := range sink.Mails() {
		h := m.Header()
		seen[h.Get("Message-Id")]++
	}
	twice := 0
	for _, n := range seen {
		twice += n - 1
	}
	t.Logf("%d restarts while sending %d mails: %d delivered, %d distinct, %d twice, %d pending, %d failed",
		restarts, queued, len(sink.Mails()), len(seen), twice, st.Pending, st.Failed)
	if twice != 0 || len(seen) != queued || st.Pending != 0 || st.Failed != 0 {
		t.Errorf("want every one of %d mails delivered once", queued)
	}
}
