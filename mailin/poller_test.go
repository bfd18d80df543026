package mailin

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"helpdesk/core"
	"helpdesk/core/coretest"
	"helpdesk/mailin/mailintest"
)

func testMail(n int, at time.Time) []byte {
	return []byte(fmt.Sprintf("From: Customer %d <c%d@example.com>\r\nTo: support@desk.test\r\nSubject: Help %d\r\n"+
		"Message-ID: <poll-%d-%d@example.com>\r\nDate: %s\r\n\r\nPlease help with %d.\r\n",
		n, n, n, n, at.UnixNano(), at.Format(time.RFC1123Z), n))
}

// runPoller polls acct until the returned stop is called.
func runPoller(t testing.TB, s *core.Store, acct mailintest.Account, folder string) (stop func()) {
	t.Helper()
	p := &Poller{
		Mailbox: Mailbox{Name: "support", Addr: acct.Addr, TLS: TLSNone, User: acct.User, Password: acct.Password,
			Folder: folder, PollInterval: 200 * time.Millisecond},
		Intake: &Intake{Store: s, Desk: []string{"support@desk.test"}, Log: quiet()},
		Log:    quiet(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func waitTickets(t *testing.T, s *core.Store, n int) []core.Ticket {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		list, err := s.ListTickets(context.Background(), core.TicketFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) >= n || time.Now().After(deadline) {
			return list
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPollerTakesEachMessageOnceAcrossRestarts(t *testing.T) {
	s := coretest.SeededStore(t)
	acct := mailintest.NewAccount(t)
	c := acct.Dial(t)
	now := time.Now()
	for i := 1; i <= 3; i++ {
		acct.Append(t, c, "INBOX", testMail(i, now))
	}
	stop := runPoller(t, s, acct, "INBOX")
	if got := len(waitTickets(t, s, 3)); got != 3 {
		stop()
		t.Fatalf("got %d tickets, want 3", got)
	}
	stop()

	// A new poller (a restarted daemon) must neither redo old mail nor miss new.
	for i := 4; i <= 5; i++ {
		acct.Append(t, c, "INBOX", testMail(i, now))
	}
	stop = runPoller(t, s, acct, "INBOX")
	waitTickets(t, s, 5)
	time.Sleep(500 * time.Millisecond) // room for a wrong duplicate to appear
	stop()
	list := waitTickets(t, s, 0)
	if len(list) != 5 {
		t.Fatalf("got %d tickets, want 5", len(list))
	}
	cp, ok, err := s.LoadCheckpoint(context.Background(), "support", "INBOX")
	if err != nil || !ok {
		t.Fatalf("checkpoint: %v %v", ok, err)
	}
	if cp.LastUID != 5 {
		t.Errorf("checkpoint at uid %d, want 5", cp.LastUID)
	}
}

func TestPollerIdleSeesNewMailQuickly(t *testing.T) {
	s := coretest.SeededStore(t)
	acct := mailintest.NewAccount(t)
	c := acct.Dial(t)
	p := &Poller{
		Mailbox: Mailbox{Name: "support", Addr: acct.Addr, TLS: TLSNone, User: acct.User, Password: acct.Password,
			PollInterval: time.Hour}, // only IDLE can make this test pass
		Intake: &Intake{Store: s, Desk: []string{"support@desk.test"}, Log: quiet()},
		Log:    quiet(),
	}
	polled := make(chan struct{}, 10)
	p.OnPoll = func(string, error) { polled <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	select {
	case <-polled:
	case <-time.After(10 * time.Second):
		t.Fatal("poller never finished its first pass")
	}
	time.Sleep(200 * time.Millisecond) // let it enter IDLE
	acct.Append(t, c, "INBOX", testMail(1, time.Now()))
	if got := len(waitTickets(t, s, 1)); got != 1 {
		t.Fatalf("got %d tickets with polling off, want 1 through IDLE", got)
	}
}

func TestUIDValidityChangeRereadsWithoutDuplicatesOrOldAcks(t *testing.T) {
	ctx := context.Background()
	s := coretest.SeededStore(t)
	acct := mailintest.NewAccount(t)
	c := acct.Dial(t)
	if err := c.Create("Support", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	long := time.Now().Add(-48 * time.Hour)
	first, second := testMail(1, long), testMail(2, long)
	acct.Append(t, c, "Support", first)
	acct.Append(t, c, "Support", second)
	stop := runPoller(t, s, acct, "Support")
	waitTickets(t, s, 2)
	stop()
	before, ok, err := s.LoadCheckpoint(ctx, "support", "Support")
	if err != nil || !ok {
		t.Fatal(err)
	}

	// The folder is deleted and recreated: a new UIDVALIDITY.
	if err := c.Delete("Support").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("Support", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	acct.Append(t, c, "Support", first)
	acct.Append(t, c, "Support", second)
	oldUnseen := testMail(3, long) // older than our last poll, never stored
	acct.AppendAt(t, c, "Support", oldUnseen, long)
	acct.Append(t, c, "Support", testMail(4, time.Now().Add(time.Minute)))

	stop = runPoller(t, s, acct, "Support")
	waitTickets(t, s, 4)
	time.Sleep(300 * time.Millisecond)
	stop()
	list := waitTickets(t, s, 0)
	if len(list) != 4 {
		t.Fatalf("got %d tickets, want 4 (2 old kept once, 1 old unseen, 1 new)", len(list))
	}
	after, _, err := s.LoadCheckpoint(ctx, "support", "Support")
	if err != nil {
		t.Fatal(err)
	}
	if after.UIDValidity == before.UIDValidity {
		t.Fatalf("UIDVALIDITY did not change (%d): the test did not exercise anything", after.UIDValidity)
	}
	// Acks: two for the first pass, one for the new message; none for the
	// old message found only on the re-read.
	mails, err := s.ClaimOutbox(ctx, 100, time.Minute, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	acks := map[string]int{}
	for _, m := range mails {
		if m.Template == core.TemplateAck {
			acks[m.Recipient]++
		}
	}
	if len(acks) != 3 || acks["Customer 3 <c3@example.com>"] != 0 {
		t.Errorf("acks %v, want one each for customers 1, 2 and 4 and none for 3", acks)
	}
}

// With move_to, processed mail leaves the folder; the checkpoint, not the
// move, is what keeps it from being taken twice.
func TestPollerMovesProcessedMail(t *testing.T) {
	s := coretest.SeededStore(t)
	acct := mailintest.NewAccount(t)
	c := acct.Dial(t)
	if err := c.Create("Processed", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		acct.Append(t, c, "INBOX", testMail(i, time.Now()))
	}
	p := &Poller{
		Mailbox: Mailbox{Name: "support", Addr: acct.Addr, TLS: TLSNone, User: acct.User, Password: acct.Password,
			PollInterval: 200 * time.Millisecond, MoveTo: "Processed"},
		Intake: &Intake{Store: s, Desk: []string{"support@desk.test"}, Log: quiet()},
		Log:    quiet(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	waitTickets(t, s, 3)
	time.Sleep(500 * time.Millisecond)
	cancel()
	<-done
	for folder, want := range map[string]uint32{"INBOX": 0, "Processed": 3} {
		st, err := c.Status(folder, &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if *st.NumMessages != want {
			t.Errorf("%s holds %d messages, want %d", folder, *st.NumMessages, want)
		}
	}
	if list := waitTickets(t, s, 0); len(list) != 3 {
		t.Errorf("%d tickets, want 3", len(list))
	}
}

// A server may return FETCH results out of UID order. A batch may be
// stored only when nothing below its highest UID is still on its way.
func TestArrivalsOutOfOrder(t *testing.T) {
	a := newArrivals([]imap.UID{11, 12, 13, 14})
	for _, step := range []struct {
		uid      imap.UID
		complete bool
	}{
		{12, false}, // 11 is still on its way
		{11, true},
		{14, false}, // 13 is still on its way
		{13, true},
	} {
		a.add(step.uid)
		if got := a.complete(); got != step.complete {
			t.Fatalf("after UID %d: complete = %v, want %v", step.uid, got, step.complete)
		}
	}
}
