package mailin

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/jackc/pgx/v5"

	"helpdesk/core"
	"helpdesk/core/coretest"
	"helpdesk/mailin/mailintest"
)

// benchMail is a customer message of about size bytes, all text.
func benchMail(i, size int) []byte {
	head := fmt.Sprintf("From: Customer %d <bench%d@example.com>\r\nTo: support@desk.test\r\nSubject: Bench %d\r\n"+
		"Message-ID: <bench-%d-%d@example.com>\r\nDate: %s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
		i, i, i, i, time.Now().UnixNano(), time.Now().Format(time.RFC1123Z))
	line := "The quick brown fox jumps over the lazy dog, and the printer is on fire again.\r\n"
	body := strings.Repeat(line, max(1, (size-len(head))/len(line)))
	return []byte(head + body)
}

// attachmentMail is a customer message of about size bytes the usual way
// large mail is large: a short note and an attached file (base64).
func attachmentMail(i, size int) []byte {
	head := fmt.Sprintf("From: Customer %d <bench%d@example.com>\r\nTo: support@desk.test\r\nSubject: Bench %d\r\n"+
		"Message-ID: <bench-%d-%d@example.com>\r\nDate: %s\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+
		"The invoice is attached; the portal rejects it.\r\n--b\r\nContent-Type: application/pdf; name=invoice.pdf\r\n"+
		"Content-Disposition: attachment; filename=invoice.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n",
		i, i, i, i, time.Now().UnixNano(), time.Now().Format(time.RFC1123Z))
	file := make([]byte, size*3/4)
	for j := range file {
		file[j] = byte(j*31 + i)
	}
	enc := base64.StdEncoding.EncodeToString(file)
	var body strings.Builder
	for len(enc) > 76 {
		body.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	body.WriteString(enc + "\r\n--b--\r\n")
	return []byte(head + body.String())
}

// BenchmarkIntake prints, in one run on one machine, the raw rate of both
// ends of the pipe and our end-to-end ingest rate (run under scripts/test,
// which provides Dovecot):
//
//	scripts/test -run '^$' -bench Intake -benchtime 1x ./mailin
func BenchmarkIntake(b *testing.B) {
	if mailintest.DovecotAddr() == "" {
		b.Skip("needs Dovecot: run under scripts/test")
	}
	for _, size := range []struct {
		name  string
		mail  func(i, size int) []byte
		bytes int
		n     int
	}{
		{"2KB", benchMail, 2 << 10, 2000},
		{"200KB_attachment", attachmentMail, 200 << 10, 200},
		{"200KB_text", benchMail, 200 << 10, 200},
	} {
		b.Run(size.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchIntakeOnce(b, size.mail, size.bytes, size.n)
			}
		})
	}
	b.Run("idle_latency", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			benchIdleLatency(b, 100)
		}
	})
}

func benchIntakeOnce(b *testing.B, mail func(i, size int) []byte, size, n int) {
	ctx := context.Background()
	acct := mailintest.NewAccount(b)
	c := acct.Dial(b)
	for i := 0; i < n; i++ {
		acct.Append(b, c, "INBOX", mail(i, size))
	}

	// One end: IMAP FETCH of the same messages from Dovecot.
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	msgs, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil || len(msgs) != n {
		b.Fatalf("fetched %d of %d: %v", len(msgs), n, err)
	}
	fetchRate := float64(n) / time.Since(start).Seconds()

	// Other end: PostgreSQL with one small transaction per message.
	s := coretest.SeededStore(b)
	conn, err := pgx.Connect(ctx, s.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TEMP TABLE raw (id bigserial PRIMARY KEY, key text UNIQUE, body bytea)`); err != nil {
		b.Fatal(err)
	}
	start = time.Now()
	for i, m := range msgs {
		if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO raw (key, body) VALUES ($1, $2)`, fmt.Sprint(i), m.BodySection[0].Bytes)
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
	commitRate := float64(n) / time.Since(start).Seconds()

	// Ours: the poller from an empty checkpoint to every message a ticket.
	start = time.Now()
	stop := runPoller(b, s, acct, "INBOX")
	waitTicketCount(b, conn, n, 5*time.Minute)
	ingestRate := float64(n) / time.Since(start).Seconds()
	stop()

	b.ReportMetric(fetchRate, "imap_fetch_msgs/s")
	b.ReportMetric(commitRate, "pg_commits/s")
	b.ReportMetric(ingestRate, "ingest_msgs/s")
	b.ReportMetric(ingestRate/commitRate, "ingest/commit")
}

// waitTicketCount waits with a cheap count query, so the waiting costs the
// database little next to the work being measured.
func waitTicketCount(b *testing.B, conn *pgx.Conn, n int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for {
		var c int
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM tickets`).Scan(&c); err != nil {
			b.Fatal(err)
		}
		if c >= n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d tickets after %v", c, n, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitCount(b *testing.B, s *core.Store, n int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for {
		list, err := s.ListTickets(context.Background(), core.TicketFilter{Limit: n + 1})
		if err != nil {
			b.Fatal(err)
		}
		if len(list) >= n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d tickets after %v", len(list), n, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// benchIdleLatency appends one message at a time and measures the time until
// its ticket is committed, with the poller in IDLE.
func benchIdleLatency(b *testing.B, n int) {
	s := coretest.SeededStore(b)
	acct := mailintest.NewAccount(b)
	c := acct.Dial(b)
	p := &Poller{
		Mailbox: Mailbox{Name: "support", Addr: acct.Addr, TLS: TLSNone, User: acct.User, Password: acct.Password,
			PollInterval: time.Hour},
		Intake: &Intake{Store: s, Desk: []string{"support@desk.test"}, Log: quiet()},
		Log:    quiet(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitCount(b, s, 0, time.Second)
	time.Sleep(300 * time.Millisecond)
	var lat []time.Duration
	for i := 0; i < n; i++ {
		start := time.Now()
		acct.Append(b, c, "INBOX", benchMail(i, 2<<10))
		for {
			list, err := s.ListTickets(ctx, core.TicketFilter{Limit: n + 1})
			if err != nil {
				b.Fatal(err)
			}
			if len(list) > i {
				break
			}
			if time.Since(start) > 10*time.Second {
				b.Fatalf("message %d not taken in after 10s", i)
			}
			time.Sleep(2 * time.Millisecond)
		}
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
}

// BenchmarkPrepareText is the CPU one 200 KB text message costs before the
// database: parsing, quote stripping, commands, classification.
func BenchmarkPrepareText(b *testing.B) {
	raw := benchMail(1, 200<<10)
	b.SetBytes(int64(len(raw)))
	for i := 0; i < b.N; i++ {
		p, err := Parse(raw, DefaultLimits)
		if err != nil {
			b.Fatal(err)
		}
		ParseCommands(StripQuotes(p.Text))
		Classify(p, "desk.test")
	}
}
