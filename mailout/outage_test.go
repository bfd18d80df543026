package mailout_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net"
	"strings"
	"testing"
	"time"

	"helpdesk/core"
	"helpdesk/core/coretest"
	"helpdesk/mailout"
	"helpdesk/mailout/mailouttest"

	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"
)

// queueAcks opens n tickets, each queuing an acknowledgement and alerts.
func queueAcks(t *testing.T, s *core.Store, n int, now time.Time) int {
	t.Helper()
	var batch []*core.Inbound
	for i := 0; i < n; i++ {
		batch = append(batch, &core.Inbound{Mailbox: "support", MessageID: fmt.Sprintf("outage-%d@example.com", i),
			From: core.Address{Email: fmt.Sprintf("o%d@example.com", i)}, Subject: "Outage", Text: "Hi.", Class: core.ClassHuman,
			Raw: []byte(fmt.Sprint(i))})
	}
	if _, err := s.IngestBatch(context.Background(), batch, nil, now); err != nil {
		t.Fatal(err)
	}
	st, _ := s.OutboxStats(context.Background())
	return int(st.Pending)
}

// The SMTP server disappears for three days. Nothing is given up (our own
// connection failures never count toward a mail's lifetime), the admins
// are alerted once, and when the server is back every waiting mail goes
// at once: the sender's clock never moves past the backoff of any mail, so
// only mail that waits for no backoff can arrive.
func TestSMTPOutageNeverGivesUpAndDrainsAtOnce(t *testing.T) {
	ctx := context.Background()
	s := coretest.SeededStore(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // the server is down from the start
	sink := &mailouttest.Sink{Addr: addr}
	clk := &clock{t: time.Now()}
	queued := queueAcks(t, s, 20, clk.Now())
	var snd *mailout.Sender
	var back *mailouttest.Sink
	startSender(t, s, sink, clk, func(x *mailout.Sender) { snd, x.OutageAlert = x, 10*time.Minute })
	waitUntil(t, "the sender notices the outage", func() bool { _, _, down := snd.Unreachable(); return down })

	// Three days pass while the sender probes.
	for i := 0; i < 3; i++ {
		clk.Add(24 * time.Hour)
		waitUntil(t, "an outage alert is queued", func() bool { return countPending(t, s, core.TemplateSMTPOutage) > 0 })
	}
	st, _ := s.OutboxStats(ctx)
	if st.Failed != 0 {
		t.Fatalf("%d mails given up during an outage of our own", st.Failed)
	}
	alerts := countPending(t, s, core.TemplateSMTPOutage)

	back, err = mailouttest.Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { back.Close() })
	start := time.Now()
	got := back.WaitFor(queued+alerts+1, 30*time.Second) // and the recovery notice
	t.Logf("%d mails waiting, %d outage alerts; %d delivered %v after the server came back", queued, alerts, len(got), time.Since(start).Round(time.Millisecond))
	if len(got) != queued+alerts+1 {
		t.Errorf("%d mails delivered after the outage, want %d waiting plus %d alerts and the recovery notice", len(got), queued, alerts)
	}
	if alerts != 1 {
		t.Errorf("%d outage alerts, want one (one admin)", alerts)
	}
	if _, _, down := snd.Unreachable(); down {
		t.Errorf("sender still reports an outage")
	}
}

func countPending(t *testing.T, s *core.Store, template string) int {
	t.Helper()
	var n int
	conn, err := pgxConnect(s)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM outbox WHERE template = $1`, template).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

func pgxConnect(s *core.Store) (*pgx.Conn, error) {
	return pgx.Connect(context.Background(), s.URL())
}

// An agent's response the peer refuses for good (here a 5.7.1 policy
// rejection, the address itself fine) is reported to that agent, once,
// with the reason. The refused acknowledgement, written by nobody, is
// only noted on the ticket.
func TestFailedResponseIsReportedToItsAgent(t *testing.T) {
	ctx := context.Background()
	s := coretest.SeededStore(t)
	sink := mailouttest.Start(t)
	clk := &clock{t: time.Now()}
	n := ingestGreg(t, s, clk.Now()) // SEV-A: assigned to the admin
	if _, err := s.Act(ctx, n, "admin@desk.test", nil, "Re-enable the trackpad with Fn+F7.", clk.Now()); err != nil {
		t.Fatal(err)
	}
	refused := &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "message refused by policy"}
	sink.FailRcpt("greg@example.com", refused, refused) // the acknowledgement and the response
	startSender(t, s, sink, clk)
	waitUntil(t, "the failure notice arrives", func() bool {

		for _, m := range sink.Mails() {
			if m.To[0] == "admin@desk.test" && bytes.Contains(m.Data, []byte("Your response on")) {
				return true
			}
		}
		return false
	})
	time.Sleep(300 * time.Millisecond)
	notices := 0
	for _, m := range sink.Mails() {
		h := m.Header()
		if subj, _ := h.Subject(); strings.Contains(subj, "failed") {
			notices++
			text, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(m.Data)))
			if !bytes.Contains(text, []byte("message refused by policy")) {
				t.Errorf("notice without the reason:\n%s", m.Data)
			}
		}
	}
	if notices != 1 {
		t.Errorf("%d failure notices, want one to the agent who wrote the response", notices)
	}
}
