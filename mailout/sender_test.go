package mailout_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/jackc/pgx/v5"

	"helpdesk/core"
	"helpdesk/core/coretest"
	"helpdesk/mailout"
	"helpdesk/mailout/mailouttest"
)

// clock is a settable time source shared by the test and the sender.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// startSender runs a sender to the sink, adjusted by opts, until the test
// ends or the returned stop is called.
func startSender(t *testing.T, s *core.Store, sink *mailouttest.Sink, clk *clock, opts ...func(*mailout.Sender)) (stop func()) {
	t.Helper()
	tpl, err := mailout.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	snd := &mailout.Sender{
		Store: s, Templates: tpl, SMTP: mailout.SMTPConfig{Addr: sink.Addr, TLS: mailout.TLSNone, Timeout: 5 * time.Second},
		From: core.Address{Name: "Support", Email: "support@desk.test"}, Conns: 2, Interval: 20 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: clk.Now,
	}
	for _, o := range opts {
		o(snd)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { snd.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func ingestGreg(t *testing.T, s *core.Store, now time.Time) int64 {
	t.Helper()
	res, err := coretest.Ingest(context.Background(), s, &core.Inbound{
		Mailbox: "emergency", MessageID: "greg-1@example.com", From: core.Address{Name: "Greg", Email: "greg@example.com"},
		Subject: "Laptop trackpad", Text: "It stopped.", Class: core.ClassHuman, Topic: "SEV-A", Raw: []byte("raw"),
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	return res.Ticket
}

func TestAckDeliveredWithThreadingHeaders(t *testing.T) {
	s := coretest.SeededStore(t)
	sink := mailouttest.Start(t)
	clk := &clock{t: time.Now()}
	n := ingestGreg(t, s, clk.Now())
	startSender(t, s, sink, clk)
	mails := sink.WaitFor(2, 10*time.Second)
	if len(mails) != 2 {
		t.Fatalf("got %d mails, want ack and alert", len(mails))
	}
	var ack *mailouttest.Mail
	for i := range mails {
		if mails[i].To[0] == "greg@example.com" {
			ack = &mails[i]
		}
	}
	if ack == nil {
		t.Fatalf("no mail to greg among %v", mails)
	}
	h := ack.Header()
	subj, _ := h.Subject()
	if want := core.SubjectTag(n) + " Laptop trackpad"; subj != want {
		t.Errorf("subject %q, want %q", subj, want)
	}
	if irt, _ := h.MsgIDList("In-Reply-To"); len(irt) != 1 || irt[0] != "greg-1@example.com" {
		t.Errorf("In-Reply-To %v, want greg-1@example.com", irt)
	}
	if refs, _ := h.MsgIDList("References"); len(refs) == 0 || refs[0] != "greg-1@example.com" {
		t.Errorf("References %v, want to start with greg-1@example.com", refs)
	}
	if got := h.Get("Auto-Submitted"); got != "auto-replied" {
		t.Errorf("Auto-Submitted %q, want auto-replied", got)
	}
	rt, _ := h.AddressList("Reply-To")
	if len(rt) != 1 || !strings.HasPrefix(rt[0].Address, "support+") {
		t.Errorf("Reply-To %v, want support+token@", rt)
	}
	// Wait a little: nothing more may arrive.
	time.Sleep(200 * time.Millisecond)
	if got := len(sink.Mails()); got != 2 {
		t.Errorf("got %d mails in the end, want 2", got)
	}
}

func TestTemporaryFailureRetriedThenDeliveredOnce(t *testing.T) {
	s := coretest.SeededStore(t)
	sink := mailouttest.Start(t)
	clk := &clock{t: time.Now()}
	ingestGreg(t, s, clk.Now())
	sink.FailNext(mailouttest.TempFail, mailouttest.TempFail, mailouttest.ErrDrop)
	startSender(t, s, sink, clk)
	// Each failed mail waits out its backoff; move the clock past it.
	deadline := time.Now().Add(15 * time.Second)
	for len(sink.Mails()) < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		clk.Add(2 * time.Minute)
	}
	time.Sleep(200 * time.Millisecond)
	mails := sink.Mails()
	if len(mails) != 2 {
		t.Fatalf("got %d mails, want exactly 2 (each delivered once)", len(mails))
	}
	h0, h1 := mails[0].Header(), mails[1].Header()
	if h0.Get("Message-Id") == h1.Get("Message-Id") {
		t.Errorf("two different mails share a Message-ID")
	}
}

func TestPermanentFailureNotRetriedAndNoted(t *testing.T) {
	s := coretest.SeededStore(t)
	sink := mailouttest.Start(t)
	clk := &clock{t: time.Now()}
	n := ingestGreg(t, s, clk.Now())
	sink.FailRcpt("greg@example.com", mailouttest.PermFail) // 550 5.1.1: no such user
	startSender(t, s, sink, clk)
	sink.WaitFor(2, 10*time.Second)
	for i := 0; i < 20; i++ {
		time.Sleep(50 * time.Millisecond)
		clk.Add(time.Hour)
	}
	var toGreg, notices int
	for _, m := range sink.Mails() {
		h := m.Header()
		subj, _ := h.Subject()
		if m.To[0] == "greg@example.com" {
			toGreg++
		}
		if strings.Contains(subj, "Mail to greg@example.com failed") {
			notices++
		}
	}
	if toGreg != 0 {
		t.Errorf("the refused mail reached greg %d times: it must never be retried", toGreg)
	}
	if notices != 1 {
		t.Errorf("the assignee got %d delivery-failure notices, want 1", notices)
	}
	th, err := s.ShowTicket(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	var failed int
	for _, e := range th.Entries {
		if e.Event == "mail_failed" {
			failed++
		}
	}
	if failed != 1 {
		t.Errorf("got %d mail_failed events, want 1", failed)
	}
	// Greg is now undeliverable: the next automatic mail to him is suppressed.
	if _, err := coretest.Ingest(context.Background(), s, &core.Inbound{Mailbox: "support", MessageID: "greg-2@example.com",
		From: core.Address{Email: "greg@example.com"}, Subject: "Another", Text: "x", Class: core.ClassHuman, Raw: []byte("2")},
		clk.Now()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	for _, m := range sink.Mails() {
		if m.To[0] == "greg@example.com" {
			t.Errorf("mail sent to an undeliverable address")
		}
	}
}

func TestStartTLSRequiredFailsClosed(t *testing.T) {
	s := coretest.SeededStore(t)
	sink := mailouttest.Start(t) // offers no STARTTLS
	clk := &clock{t: time.Now()}
	ingestGreg(t, s, clk.Now())
	stop := startSender(t, s, sink, clk, func(snd *mailout.Sender) { snd.SMTP.TLS = mailout.TLSStartTLS })
	time.Sleep(500 * time.Millisecond)
	stop()
	if got := len(sink.Mails()); got != 0 {
		t.Fatalf("%d mails went out in clear text though STARTTLS was required", got)
	}
	// Fail closed, but keep the mail: it waits for the server to be fixed.
	st, err := s.OutboxStats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending != 2 || st.Failed != 0 {
		t.Errorf("outbox %+v: both mails must stay pending, none given up", st)
	}
	err = mailout.CheckLogin(context.Background(), mailout.SMTPConfig{Addr: sink.Addr, TLS: mailout.TLSStartTLS, Timeout: 5 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "does not offer STARTTLS") {
		t.Errorf("connecting: %v, want it to say the server does not offer STARTTLS", err)
	}
}

func TestImplicitTLSAndAuth(t *testing.T) {
	for _, c := range []struct {
		name, password string
		delivered      bool
	}{{"right password", "s3cret", true}, {"wrong password", "guess", false}} {
		t.Run(c.name, func(t *testing.T) {
			s := coretest.SeededStore(t)
			sink := mailouttest.StartTLS(t, "desk", "s3cret")
			clk := &clock{t: time.Now()}
			ingestGreg(t, s, clk.Now())
			stop := startSender(t, s, sink, clk, func(snd *mailout.Sender) {
				snd.SMTP = mailout.SMTPConfig{Addr: sink.Addr, TLS: mailout.TLSImplicit, User: "desk", Password: c.password,
					Timeout: 5 * time.Second, InsecureSkipVerify: true}
			})
			got := sink.WaitFor(2, 3*time.Second)
			stop()
			if c.delivered && len(got) != 2 {
				t.Errorf("%d mails over TLS with AUTH, want 2", len(got))
			}
			if !c.delivered {
				st, _ := s.OutboxStats(context.Background())
				if len(got) != 0 || st.Pending != 2 {
					t.Errorf("rejected credentials: %d sent, outbox %+v; want none sent and both kept for a retry", len(got), st)
				}
			}
		})
	}
}

// An agent's response carries the files the agent attached.
func TestResponseCarriesAgentsAttachments(t *testing.T) {
	s := coretest.SeededStore(t)
	sink := mailouttest.Start(t)
	clk := &clock{t: time.Now()}
	n := ingestGreg(t, s, clk.Now())
	agents, _ := s.Agents(context.Background())
	var admin int64
	for _, a := range agents {
		if a.Email == "admin@desk.test" {
			admin = a.ID
		}
	}
	raw := "From: admin@desk.test\r\nSubject: Re: trackpad\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n" +
		"--x\r\nContent-Type: text/plain\r\n\r\nHere is the driver.\r\n" +
		"--x\r\nContent-Type: application/octet-stream; name=driver.bin\r\nContent-Disposition: attachment; filename=driver.bin\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\nAAECAwQF\r\n--x--\r\n"
	if _, err := coretest.Ingest(context.Background(), s, &core.Inbound{Mailbox: "support", MessageID: "admin-1@desk.test",
		From: core.Address{Email: "admin@desk.test"}, Subject: "Re: trackpad", Text: "Here is the driver.", CommandRest: "Here is the driver.",
		Class: core.ClassHuman, Raw: []byte(raw), ReplyToken: s.MintToken(core.ReplyToken{Ticket: n, Agent: admin, Until: clk.Now().Add(time.Hour)})}, clk.Now()); err != nil {
		t.Fatal(err)
	}
	startSender(t, s, sink, clk)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range sink.Mails() {
			if m.To[0] != "greg@example.com" || !strings.Contains(string(m.Data), "driver") {
				continue
			}
			r, err := mail.CreateReader(bytes.NewReader(m.Data))
			if err != nil {
				t.Fatal(err)
			}
			for {
				p, err := r.NextPart()
				if err != nil {
					break
				}
				if h, ok := p.Header.(*mail.AttachmentHeader); ok {
					name, _ := h.Filename()
					data, _ := io.ReadAll(p.Body)
					if name == "driver.bin" && bytes.Equal(data, []byte{0, 1, 2, 3, 4, 5}) {
						return
					}
					t.Fatalf("attachment %q %v, want driver.bin with its bytes", name, data)
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("Greg never got the response with the attachment")
}

// A mail refused with 4xx again and again is retried with growing pauses,
// then given up when its lifetime ends, and the failure noted.
func TestTemporaryFailureBacksOffThenGivesUp(t *testing.T) {
	s := coretest.SeededStore(t)
	sink := mailouttest.Start(t)
	clk := &clock{t: time.Now()}
	n := ingestGreg(t, s, clk.Now())
	var always []error
	for i := 0; i < 1000; i++ {
		always = append(always, mailouttest.TempFail)
	}
	sink.FailRcpt("greg@example.com", always...)
	stop := startSender(t, s, sink, clk, func(snd *mailout.Sender) { snd.Conns, snd.Lifetime = 1, 2*time.Hour })
	// Simulated time in one-minute steps until the mail is given up (the
	// steps wait for the sender, so a loaded machine only slows the test).
	var st core.OutboxStats
	for i := 0; i < 400 && st.Failed == 0; i++ {
		time.Sleep(15 * time.Millisecond)
		clk.Add(time.Minute)
		st, _ = s.OutboxStats(context.Background())
	}
	stop()
	// Backoff from 30 s doubling towards an hour: a handful of attempts in
	// two hours, not one every poll.
	if got := sink.Refused(); got < 3 || got > 12 {
		t.Errorf("%d attempts in two hours, want a handful spaced by backoff", got)
	}
	if st.Failed != 1 {
		t.Errorf("outbox %+v: the mail should be given up after its lifetime", st)
	}
	th, _ := s.ShowTicket(context.Background(), n)
	if last := th.Entries[len(th.Entries)-1]; last.Event != "mail_failed" {
		t.Errorf("last entry %s %s, want mail_failed", last.Kind, last.Event)
	}
}

// TestUnreadableMailIsGivenUpOthersGo: a row whose data does not decode
// (written by another version) is given up with the reason, and the mail
// claimed with it still goes: it holds back nothing and is not retried.
func TestUnreadableMailIsGivenUpOthersGo(t *testing.T) {
	ctx := context.Background()
	s := coretest.SeededStore(t)
	sink := mailouttest.Start(t)
	clk := &clock{t: time.Now()}
	ingestGreg(t, s, clk.Now())
	db, err := pgx.Connect(ctx, s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	if _, err := db.Exec(ctx, `UPDATE outbox SET data = '{"number": "seven"}' WHERE template = 'ack'`); err != nil {
		t.Fatal(err)
	}
	startSender(t, s, sink, clk)
	if mails := sink.WaitFor(1, 10*time.Second); len(mails) != 1 || !strings.Contains(string(mails[0].Data), "New ticket") {
		t.Fatalf("got %d mails, want the alert alone", len(mails))
	}
	var state, reason string
	for deadline := time.Now().Add(10 * time.Second); state != "failed" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		db.QueryRow(ctx, `SELECT state, last_error FROM outbox WHERE template = 'ack'`).Scan(&state, &reason)
	}
	if state != "failed" || !strings.Contains(reason, "decode data of outbox") {
		t.Errorf("unreadable mail: state %q, reason %q; want failed with the decode error", state, reason)
	}
}
