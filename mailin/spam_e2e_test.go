package mailin

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"helpdesk/core"
	"helpdesk/core/coretest"
	"helpdesk/mailin/mailintest"
)

// pollWith polls acct's INBOX through in until the test ends.
func pollWith(t *testing.T, in *Intake, acct mailintest.Account) {
	t.Helper()
	p := &Poller{
		Mailbox: Mailbox{Name: "support", Addr: acct.Addr, TLS: TLSNone, User: acct.User, Password: acct.Password,
			PollInterval: 200 * time.Millisecond, DefaultTopic: "SEV-C"},
		Intake: in, Log: quiet(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func waitStored(t *testing.T, s *core.Store, n int) {
	t.Helper()
	var got int
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err := pgxQueryRow(t, s, `SELECT count(*) FROM messages`, &got); err != nil {
			t.Fatal(err)
		}
		if got >= n {
			return
		}
	}
	t.Fatalf("%d messages stored, want %d", got, n)
}

func dueMails(t *testing.T, s *core.Store, now time.Time) map[string][]core.OutMail {
	t.Helper()
	mails, err := s.ClaimOutbox(context.Background(), 10000, 1000*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]core.OutMail{}
	for _, m := range mails {
		out[m.Template] = append(out[m.Template], m)
	}
	return out
}

// A sender over the new-ticket limit: the excess is kept on their latest
// ticket, answered by nobody, and the admin hears of it once.
func TestNewTicketLimitThroughDovecot(t *testing.T) {
	budget := core.DefaultBudget
	budget.TicketsPerSender = 3
	s := coretest.OpenSameWith(t, coretest.SeededStore(t), core.Options{Budget: budget})
	acct := mailintest.RequireDovecot(t)
	c := acct.Dial(t)
	for i := 0; i < 5; i++ {
		acct.Append(t, c, "INBOX", []byte(fmt.Sprintf("From: Robot <robot@scanner.example>\r\nTo: support@desk.test\r\n"+
			"Subject: Scan %d\r\nMessage-ID: <scan-%d@scanner.example>\r\n\r\nScanned page %d.\r\n", i, i, i)))
	}
	pollWith(t, &Intake{Store: s, Desk: []string{"support@desk.test"}, Log: quiet()}, acct)
	waitStored(t, s, 5)
	list, _ := s.ListTickets(context.Background(), core.TicketFilter{})
	if len(list) != 3 {
		t.Fatalf("%d tickets, want the limit of 3", len(list))
	}
	th, _ := s.ShowTicket(context.Background(), list[0].Number)
	messages := 0
	for _, e := range th.Entries {
		if e.Kind == core.EntryMessage {
			messages++
		}
	}
	if messages != 3 {
		t.Errorf("latest ticket has %d messages, want its own and the 2 over the limit", messages)
	}
	due := dueMails(t, s, time.Now().Add(time.Minute))
	if n := len(due[core.TemplateRateLimited]); n != 1 {
		t.Errorf("%d rate-limit alerts, want one", n)
	}
	if n := len(due[core.TemplateAck]); n != 1 {
		t.Errorf("%d acknowledgements to the robot, want one", n)
	}
}

// An agent answers /spam by mail: the ticket is closed silently, the
// sender blocked, and their next mail is spam. The spammer gets nothing
// but the first acknowledgement.
func TestSpamCommandThroughDovecot(t *testing.T) {
	d := newDesk(t)
	acct := mailintest.RequireDovecot(t)
	c := acct.Dial(t)
	pollWith(t, d.in, acct)
	acct.Append(t, c, "INBOX", []byte("From: Pills <pills@shop.example>\r\nTo: support@desk.test\r\nSubject: Cheap pills\r\n"+
		"Message-ID: <pills-1@shop.example>\r\n\r\nBuy now.\r\n"))
	waitStored(t, d.s, 1)
	list, _ := d.s.ListTickets(context.Background(), core.TicketFilter{})
	if len(list) != 1 {
		t.Fatalf("%d tickets", len(list))
	}
	n := list[0].Number
	before := d.outbox()
	acct.Append(t, c, "INBOX", []byte(fmt.Sprintf("From: Garnet <garnet@desk.test>\r\nTo: support+%s@desk.test\r\n"+
		"Subject: Re: [#%d] Cheap pills\r\nMessage-ID: <garnet-spam@desk.test>\r\n\r\n/spam\r\nObvious spam.\r\n", d.token(n, "garnet@desk.test"), n)))
	waitStored(t, d.s, 2)
	th := d.thread(n)
	if th.Ticket.Status != core.StatusClosed {
		t.Errorf("status %s, want closed", th.Ticket.Status)
	}
	blocks, _ := d.s.Blocks(context.Background())
	if len(blocks) != 1 || blocks[0].Pattern != "pills@shop.example" {
		t.Errorf("blocks %+v, want the sender", blocks)
	}
	acct.Append(t, c, "INBOX", []byte("From: Pills <pills@shop.example>\r\nTo: support@desk.test\r\nSubject: Cheaper pills\r\n"+
		"Message-ID: <pills-2@shop.example>\r\n\r\nBuy more.\r\n"))
	waitStored(t, d.s, 3)
	if list, _ := d.s.ListTickets(context.Background(), core.TicketFilter{}); len(list) != 1 {
		t.Errorf("%d tickets: the blocked sender opened another", len(list))
	}
	after := d.outbox()
	for _, m := range append(before, after...) {
		if has([]string{m}, "→pills@shop.example") && !has([]string{m}, "ack→") {
			t.Errorf("the spammer got %s", m)
		}
	}
	if has(after, "ack→pills") || has(after, "resolved→pills") || has(after, "response→pills") {
		t.Errorf("the spammer was answered after /spam: %v", after)
	}
	spam, _ := d.s.SpamList(context.Background())
	if len(spam) < 2 {
		t.Errorf("spam list %+v, want the ticket's message and the blocked one", spam)
	}
}

// 1,000 spam and 1,000 ham mails, judged by the SpamAssassin headers the
// MX wrote, in intake batches as the poller takes them: every ham mail
// opens a ticket and is acknowledged, no spam mail causes anything but
// the admins' daily digest.
func TestSpamHamMix(t *testing.T) {
	d := spamdesk(t, &SpamCheck{TrustHeaders: true})
	const n = 1000
	var items []Item
	for i := 0; i < n; i++ {
		spam := fmt.Sprintf("X-Spam-Flag: YES\r\nX-Spam-Status: Yes, score=1002.7 required=5.0 tests=GTUBE autolearn=no\r\n%s", spamMail(i))
		ham := fmt.Sprintf("X-Spam-Status: No, score=0.1 required=5.0 tests=NONE\r\nFrom: C%d <c%d@example.com>\r\n"+
			"To: support@desk.test\r\nSubject: Question %d\r\nMessage-ID: <ham-%d@example.com>\r\n\r\nHow do I reset my password?\r\n", i, i, i, i)
		items = append(items, Item{UID: uint32(2*i + 1), Raw: []byte(spam)}, Item{UID: uint32(2*i + 2), Raw: []byte(ham)})
	}
	for start := 0; start < len(items); start += 200 {
		if _, err := d.in.DeliverBatch(context.Background(), Source{Mailbox: "support", DefaultTopic: "SEV-C"}, nil, items[start:start+200]); err != nil {
			t.Fatal(err)
		}
	}
	list, _ := d.s.ListTickets(context.Background(), core.TicketFilter{Limit: 10 * n})
	spam, _ := d.s.SpamList(context.Background())
	within := dueMails(t, d.s, d.now.Add(time.Hour))
	day := dueMails(t, d.s, d.now.Add(25*time.Hour))
	toSpammers := 0
	for _, ms := range within {
		for _, m := range ms {
			if strings.Contains(m.Recipient, "lottery.example") {
				toSpammers++
			}
		}
	}
	t.Logf("%d spam + %d ham: %d tickets, %d spam stored; first hour: %d acknowledgements, %d new-ticket alerts, %d mails to spammers; "+
		"after a day: %d spam digests", n, n, len(list), len(spam), len(within[core.TemplateAck]), len(within[core.TemplateNewTicketAlert]),
		toSpammers, len(day[core.TemplateSpamDigest]))
	if len(list) != n || len(spam) != n || len(within[core.TemplateAck]) != n || toSpammers != 0 {
		t.Errorf("want %d tickets, %d spam, %d acknowledgements and nothing to spammers", n, n, n)
	}
	if len(day[core.TemplateSpamDigest]) != 1 || day[core.TemplateSpamDigest][0].Data.Count != n {
		t.Errorf("spam digests %d, want one counting %d", len(day[core.TemplateSpamDigest]), n)
	}
}
