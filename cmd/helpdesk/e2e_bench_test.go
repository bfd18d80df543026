package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/jackc/pgx/v5"

	"helpdesk/core"
	"helpdesk/core/coretest"
	"helpdesk/mailin/mailintest"
	"helpdesk/mailout"
	"helpdesk/mailout/mailouttest"
)

// BenchmarkEndToEnd measures helpdesk from outside, as a user sees it: the
// built binary runs as a daemon against a private Dovecot, PostgreSQL
// (fsync on under scripts/bench) and a private Postfix that queues every
// mail and discards it. In the same run it measures each part's own limit
// and prints helpdesk's rates beside them, as ratios:
//   - PostgreSQL's one-commit rate and batched insert rate;
//   - Dovecot's FETCH rate (a plain IMAP client reading the mailbox);
//   - Postfix's rate from a plain SMTP client over the sender's
//     connections, for a 2 KB mail (before and after, as the machine
//     drifts) and for the drain's own mails, built as the daemon builds
//     them; each accepted, and through the queue until Postfix is idle;
//   - helpdesk's intake (appended → stored), the time until every
//     acknowledgement is accepted by Postfix, and the drain rate of a
//     pre-filled outbox, with PostgreSQL commits per sent mail;
//   - the latency of one mail to the idle daemon (append → acknowledgement
//     accepted) beside Dovecot's own IDLE notification delay;
//   - peak RSS, and CPU per mail of helpdesk, PostgreSQL and Postfix;
//   - with pg_stat_statements loaded, the statements that took the
//     database's time in each phase.
//
// HELPDESK_E2E_MAILS sets the number of mails (default 10,000), a mix of
// new tickets, replies, 200 KB attachments and other charsets;
// HELPDESK_E2E_CONNS the SMTP connections (default 4).
//
//	scripts/bench e2e
func BenchmarkEndToEnd(b *testing.B) {
	n := 10_000
	if v, err := strconv.Atoi(os.Getenv("HELPDESK_E2E_MAILS")); err == nil && v > 0 {
		n = v
	}
	conns := 4
	if v, err := strconv.Atoi(os.Getenv("HELPDESK_E2E_CONNS")); err == nil && v > 0 {
		conns = v
	}
	bin := helpdeskBinary(b)
	acct := mailintest.RequireDovecot(b)
	url := coretest.URL(b)
	mx := mailouttest.StartPostfix(b, mailouttest.Postfix{Discard: true})
	for i := 0; i < b.N; i++ {
		e := &e2e{b: b, bin: bin, acct: acct, url: url, mx: mx, n: n, conns: conns}
		e.run()
	}
}

type e2e struct {
	b        *testing.B
	bin, url string
	acct     mailintest.Account
	mx       string
	n, conns int
	config   string
	db       *pgx.Conn
	daemon   *exec.Cmd
}

func (e *e2e) run() {
	b := e.b
	ctx := context.Background()
	var err error
	if e.db, err = pgx.Connect(ctx, e.url); err != nil {
		b.Fatal(err)
	}
	defer e.db.Close(ctx)
	e.writeConfig()
	if out, err := exec.Command(e.bin, "migrate", "-config", e.config).CombinedOutput(); err != nil {
		b.Fatalf("migrate: %v\n%s", err, out)
	}
	commitRate, batchRate := e.postgresRates()
	e.smtpRate(500) // Postfix starts its smtpd and cleanup processes
	raw := e.smtpRate(3000)
	c := e.acct.Dial(b)
	for _, m := range mixedMails(e.n) {
		e.acct.Append(b, c, "INBOX", m)
	}
	fetchRate := e.fetchRate(c)
	in := e.intake()
	// The same mails from a plain client: what Postfix takes of this mix.
	queued := e.count(`SELECT count(*) FROM outbox`)
	e.requeue()
	replay := e.replay(e.builtOutbox())
	out := e.drain(queued)
	e.start()
	ackP50, notifyP50 := e.latency(c, 50)
	e.stop()
	// Postfix's rate once more: this machine's speed drifts over minutes.
	rawAfter := e.smtpRate(3000)

	b.Logf("limits: PostgreSQL %.0f commits/s, %.0f rows/s batched; Dovecot FETCH %.0f msgs/s; "+
		"Postfix from a plain client over %d connections, a 2 KB mail: %s before, %s after; the drain's own %d mails: %s",
		commitRate, batchRate, fetchRate, e.conns, raw, rawAfter, queued, replay)
	b.Logf("helpdesk: intake %.0f msgs/s (%.2f of one-commit, %.2f of FETCH); %d acknowledgements accepted %.1fs after the first mail was stored",
		in.rate, in.rate/commitRate, in.rate/fetchRate, in.acks, in.acked.Seconds())
	b.Logf("helpdesk: drain of %d mails: %s; %.2f of the plain client's acceptance of the same mails, %.2f of its rate through Postfix; "+
		"%.2f PostgreSQL commits per sent mail", queued, out.smtpRun, out.accepted/replay.accepted, out.through/replay.through,
		out.commitsPerMail)
	b.Logf("latency, one mail at a time to the idle daemon: append → acknowledgement accepted p50 %.1f ms; "+
		"Dovecot's own IDLE notification p50 %.1f ms (difference %.1f ms)", ms(ackP50), ms(notifyP50), ms(ackP50-notifyP50))
	b.Logf("intake cost per stored mail: %s; peak RSS %d MB", in.cost.per(e.n), in.cost.rss>>20)
	b.Logf("drain cost per sent mail: %s; %d CPUs", out.cost.per(queued), runtime.NumCPU())
	b.ReportMetric(in.rate/commitRate, "intake/commit")
	b.ReportMetric(out.accepted/max(raw.accepted, rawAfter.accepted), "drain/smtp")
	b.ReportMetric(out.accepted/replay.accepted, "drain/replay")
	b.ReportMetric(out.through/replay.through, "drain/replay_through")
	b.ReportMetric(in.rate, "intake_msgs/s")
	b.ReportMetric(out.accepted, "drain_mails/s")
	b.ReportMetric(in.acked.Seconds(), "acks_done_s")
	b.ReportMetric(ms(ackP50), "ack_p50_ms")
	b.ReportMetric(float64(in.cost.rss>>20), "helpdesk_rss_MB")
}

// intakeResult is the intake phase: the daemon started on a full mailbox.
type intakeResult struct {
	rate  float64 // messages stored per second
	acks  int
	acked time.Duration // from the first stored message to the last acknowledgement accepted
	cost  phaseCost
}

func (e *e2e) intake() intakeResult {
	e.resetStatements()
	defer e.logStatements("intake", e.n)
	before := serversNow()
	e.start()
	defer e.stop()
	// Rates run from the first result, so the daemon's start (migrations,
	// directory sync, logins) is not counted as intake or sending.
	stored := e.rate(`SELECT count(*) FROM messages`, e.n)
	r := intakeResult{rate: stored.perSecond, acks: e.count(`SELECT count(*) FROM outbox WHERE template = 'ack'`)}
	// Every mail is queued once intake is done; the waits below count what
	// is left through the outbox's partial index, so polling costs
	// PostgreSQL little, whatever the outbox's size.
	e.waitNone(`SELECT count(*) FROM outbox WHERE state = 'pending' AND template = 'ack'`)
	r.acked = time.Since(stored.start)
	e.waitNone(`SELECT count(*) FROM outbox WHERE state = 'pending'`)
	e.postfixIdle()
	r.cost = before.since(e.daemon.Process.Pid)
	return r
}

// drainResult is the drain phase: the daemon restarted on a full outbox.
type drainResult struct {
	smtpRun
	commitsPerMail float64
	cost           phaseCost
}

func (e *e2e) drain(queued int) drainResult {
	e.requeue()
	e.resetStatements()
	defer e.logStatements("drain", queued)
	before, commits := serversNow(), e.commits()
	e.start()
	defer e.stop()
	sent := e.rate(fmt.Sprintf(`SELECT %d - count(*) FROM outbox WHERE state = 'pending'`, queued), queued)
	r := drainResult{smtpRun: smtpRun{accepted: sent.perSecond}}
	e.postfixIdle()
	r.through = float64(sent.n) / time.Since(sent.start).Seconds()
	r.cost = before.since(e.daemon.Process.Pid)
	r.commitsPerMail = float64(e.commits()-commits) / float64(queued)
	r.cpu = r.cost.postfix / time.Duration(queued)
	return r
}

func (e *e2e) writeConfig() {
	host, port, _ := strings.Cut(e.acct.Addr, ":")
	mxHost, mxPort, _ := strings.Cut(e.mx, ":")
	cfg := fmt.Sprintf(`database_url = %q
domain = "desk.test"
secret = "e2e-bench"
log_format = "json"

[smtp]
host = %q
port = %s
tls = "none"
from = "Support <support@desk.test>"
connections = %d

[[mailboxes]]
name = "support"
address = "support@desk.test"
host = %q
port = %s
tls = "none"
user = %q
password = %q
poll_interval = "1s"
default_topic = "Support"

[[teams]]
name = "Level 1"

[[agents]]
email = "admin@desk.test"
name = "Ada Admin"
role = "admin"

[[agents]]
email = "garnet@desk.test"
name = "Garnet"
role = "agent"
teams = ["Level 1"]

[[sla_plans]]
name = "Standard"
first_response = "4h"
resolution = "24h"

[[help_topics]]
name = "Support"
sla_plan = "Standard"
team = "Level 1"
`, e.url, mxHost, mxPort, e.conns, host, port, e.acct.User, e.acct.Password)
	e.config = filepath.Join(e.b.TempDir(), "helpdesk.toml")
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		e.b.Fatal(err)
	}
}

func (e *e2e) start() {
	e.daemon = exec.Command(e.bin, "serve", "-config", e.config)
	if err := e.daemon.Start(); err != nil {
		e.b.Fatal(err)
	}
	d := e.daemon
	e.b.Cleanup(func() { d.Process.Kill() }) // a benchmark that fails leaves no daemon behind
}

func (e *e2e) stop() {
	e.daemon.Process.Signal(syscall.SIGTERM)
	e.daemon.Wait()
}

func (e *e2e) count(sql string) int {
	var n int
	if err := e.db.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		return -1
	}
	return n
}

// progress is a rate counted in the database: n rows in perSecond from
// start, when the first was counted.
type progress struct {
	perSecond float64
	start     time.Time
	n         int
}

// rate waits until sql counts want and returns the rate from the first
// counted row on.
func (e *e2e) rate(sql string, want int) progress {
	e.waitCount(sql, 1, 5*time.Minute)
	first, start := e.count(sql), time.Now()
	e.waitCount(sql, want, 30*time.Minute)
	return progress{float64(want-first) / time.Since(start).Seconds(), start, want - first}
}

// postfixIdle waits until Postfix has discarded everything it accepted.
func (e *e2e) postfixIdle() {
	queued := func() int { return mailouttest.PostfixQueued(e.b, e.mx) }
	waitFor("Postfix's queue", queued, func(n int) bool { return n == 0 }, 10*time.Minute, e.b)
}

// pollEvery is how often the benchmark counts progress: often enough for
// rates over seconds, rarely enough to leave PostgreSQL to the daemon.
const pollEvery = 100 * time.Millisecond

// waitFor polls count until done accepts it.
func waitFor(what string, count func() int, done func(n int) bool, timeout time.Duration, b *testing.B) {
	for deadline := time.Now().Add(timeout); !done(count()); time.Sleep(pollEvery) {
		if time.Now().After(deadline) {
			b.Fatalf("timed out after %v: %s counts %d", timeout, what, count())
		}
	}
}

// waitCount waits until sql counts at least want.
func (e *e2e) waitCount(sql string, want int, timeout time.Duration) {
	waitFor(sql, func() int { return e.count(sql) }, func(n int) bool { return n >= want }, timeout, e.b)
}

// waitNone waits until sql counts nothing.
func (e *e2e) waitNone(sql string) {
	waitFor(sql, func() int { return e.count(sql) }, func(n int) bool { return n == 0 }, 30*time.Minute, e.b)
}

// latency appends k mails one at a time to the idle daemon and returns the
// median time from append to the acknowledgement accepted by Postfix, and
// the median time Dovecot takes to tell another client in IDLE of a new
// mail: what the daemon adds is the difference.
func (e *e2e) latency(c *imapclient.Client, k int) (ack, notify time.Duration) {
	ctx := context.Background()
	exists := make(chan uint32, k+1)
	watcher, err := imapclient.DialInsecure(e.acct.Addr, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(m *imapclient.UnilateralDataMailbox) {
			if m.NumMessages != nil {
				exists <- *m.NumMessages
			}
		},
	}})
	if err != nil {
		e.b.Fatal(err)
	}
	defer watcher.Close()
	if err := watcher.Login(e.acct.User, e.acct.Password).Wait(); err != nil {
		e.b.Fatal(err)
	}
	if _, err := watcher.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		e.b.Fatal(err)
	}
	idle, err := watcher.Idle()
	if err != nil {
		e.b.Fatal(err)
	}
	defer idle.Close()
	time.Sleep(2 * time.Second) // the daemon logs in and enters IDLE
	for len(exists) > 0 {
		<-exists // counts from before the first append
	}
	var acks, notes []time.Duration
	for i := 0; i < k; i++ {
		id := fmt.Sprintf("latency-%d@customer.test", i)
		mail := customerMail(fmt.Sprintf("Late Customer %d <late%d@customer.test>", i, i), "support@desk.test",
			fmt.Sprintf("Waiting %d", i), id, "How long does this take?")
		start := time.Now()
		e.acct.Append(e.b, c, "INBOX", mail)
		select {
		case <-exists:
			notes = append(notes, time.Since(start))
		case <-time.After(10 * time.Second):
			e.b.Fatal("Dovecot sent no EXISTS in 10s")
		}
		for state := ""; state != "sent"; time.Sleep(time.Millisecond) {
			e.db.QueryRow(ctx, `SELECT o.state FROM messages m JOIN outbox o ON o.ticket_id = m.ticket_id AND o.template = 'ack'
				WHERE m.message_key = $1`, "mid:"+id).Scan(&state)
			if time.Since(start) > time.Minute {
				e.b.Fatalf("no acknowledgement of %s accepted after a minute", id)
			}
		}
		acks = append(acks, time.Since(start))
	}
	return median(acks), median(notes)
}

func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

// postgresRates is the server's one-commit rate (each insert its own
// transaction, as fsync makes it pay) and its batched insert rate.
func (e *e2e) postgresRates() (commits, rows float64) {
	ctx := context.Background()
	e.db.Exec(ctx, `CREATE TEMP TABLE bench (id bigserial PRIMARY KEY, v text)`)
	const k = 1000
	start := time.Now()
	for i := 0; i < k; i++ {
		if _, err := e.db.Exec(ctx, `INSERT INTO bench (v) VALUES ($1)`, "x"); err != nil {
			e.b.Fatal(err)
		}
	}
	commits = k / time.Since(start).Seconds()
	start = time.Now()
	for i := 0; i < 50; i++ {
		if _, err := e.db.Exec(ctx, `INSERT INTO bench (v) SELECT 'x' FROM generate_series(1, 200)`); err != nil {
			e.b.Fatal(err)
		}
	}
	return commits, 50 * 200 / time.Since(start).Seconds()
}

// resetStatements clears PostgreSQL's statement statistics, when
// scripts/bench has loaded pg_stat_statements.
func (e *e2e) resetStatements() {
	ctx := context.Background()
	if _, err := e.db.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
		return
	}
	e.db.Exec(ctx, `SELECT pg_stat_statements_reset()`)
}

// logStatements logs the statements that took most of the database's time
// since resetStatements, with their calls per mail of the phase: where the
// round trips go.
func (e *e2e) logStatements(phase string, mails int) {
	rows, err := e.db.Query(context.Background(), `
		SELECT calls, total_exec_time, 100 * total_exec_time / sum(total_exec_time) OVER (),
			left(regexp_replace(query, '\s+', ' ', 'g'), 110)
		FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
		WHERE d.datname = current_database()
		ORDER BY total_exec_time DESC LIMIT 8`)
	if err != nil {
		return // pg_stat_statements is not loaded
	}
	defer rows.Close()
	for rows.Next() {
		var calls int64
		var total, share float64
		var query string
		if err := rows.Scan(&calls, &total, &share, &query); err != nil {
			e.b.Fatal(err)
		}
		e.b.Logf("%s statements: %5.2f calls per mail, %6.3f ms each, %4.1f %% of the database's time: %s",
			phase, float64(calls)/float64(mails), total/float64(calls), share, query)
	}
}

// requeue puts every outbox mail back, due now.
func (e *e2e) requeue() {
	if _, err := e.db.Exec(context.Background(),
		`UPDATE outbox SET state = 'pending', sent_at = NULL, next_attempt_at = now(), attempts = 0`); err != nil {
		e.b.Fatal(err)
	}
}

// commits is the database's committed transactions so far.
func (e *e2e) commits() int64 {
	time.Sleep(1100 * time.Millisecond) // backends report their counts at most once a second
	var n int64
	if err := e.db.QueryRow(context.Background(),
		`SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&n); err != nil {
		e.b.Fatal(err)
	}
	return n
}

// builtOutbox builds every queued mail exactly as the daemon's sender does,
// leaving the rows claimed (requeue puts them back).
func (e *e2e) builtOutbox() []mailouttest.PlainMail {
	ctx := context.Background()
	s, err := core.Open(ctx, e.url, core.Options{Domain: "desk.test", Secret: []byte("e2e-bench")})
	if err != nil {
		e.b.Fatal(err)
	}
	defer s.Close()
	tpl, err := mailout.LoadTemplates("")
	if err != nil {
		e.b.Fatal(err)
	}
	mails, err := s.ClaimOutbox(ctx, 1<<30, time.Hour, time.Now())
	if err != nil {
		e.b.Fatal(err)
	}
	from := core.Address{Name: "Support", Email: "support@desk.test"}
	var out []mailouttest.PlainMail
	for _, m := range mails {
		r, err := tpl.Render(m.Template, m.Data)
		if err != nil {
			e.b.Fatal(err)
		}
		msg, env, err := mailout.Build(m, r, from, "desk.test", time.Now())
		if err != nil {
			e.b.Fatal(err)
		}
		out = append(out, mailouttest.PlainMail{From: env.From, To: env.To, Msg: msg})
	}
	return out
}

// smtpRun is k mails sent to Postfix: accepted is the rate until the last
// was accepted; through, until Postfix's queue was empty again (accepted
// mail still costs its queue manager and delivery agent); cpu is Postfix's
// CPU per mail over the whole.
type smtpRun struct {
	accepted, through float64
	cpu               time.Duration
}

func (r smtpRun) String() string {
	return fmt.Sprintf("%.0f msgs/s accepted, %.0f through the queue, %.2f ms Postfix CPU per mail", r.accepted, r.through, ms(r.cpu))
}

// replay sends these mails from a plain client over the sender's
// connections.
func (e *e2e) replay(mails []mailouttest.PlainMail) smtpRun {
	return e.plainRun(len(mails), func(i int) mailouttest.PlainMail { return mails[i] })
}

// plainRun sends k mails from a plain client and measures Postfix.
func (e *e2e) plainRun(k int, mail func(i int) mailouttest.PlainMail) smtpRun {
	e.postfixIdle()
	cpu, start := postfixCPU(), time.Now()
	r := smtpRun{accepted: mailouttest.PlainRate(e.b, e.mx, e.conns, k, mail)}
	e.postfixIdle()
	r.through = float64(k) / time.Since(start).Seconds()
	r.cpu = (postfixCPU() - cpu) / time.Duration(k)
	return r
}

// smtpRate is Postfix's rate for k copies of a 2 KB mail from a plain
// client over the sender's number of connections.
func (e *e2e) smtpRate(k int) smtpRun {
	raw := mailouttest.PlainMail{From: "support@desk.test", To: []string{"x@customer.test"},
		Msg: []byte("From: support@desk.test\r\nTo: x@customer.test\r\nSubject: raw rate\r\n\r\n" + strings.Repeat("text\r\n", 300))}
	return e.plainRun(k, func(int) mailouttest.PlainMail { return raw })
}

// fetchRate is Dovecot's rate for a plain client fetching every message
// whole, in one FETCH, as the poller does.
func (e *e2e) fetchRate(c *imapclient.Client) float64 {
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		e.b.Fatal(err)
	}
	var all imap.SeqSet
	all.AddRange(1, 0) // 1:*
	start := time.Now()
	cmd := c.Fetch(all, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	n := 0
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		if _, err := msg.Collect(); err != nil {
			e.b.Fatal(err)
		}
		n++
	}
	if err := cmd.Close(); err != nil {
		e.b.Fatal(err)
	}
	c.Unselect().Wait()
	return float64(n) / time.Since(start).Seconds()
}

// mixedMails is a realistic mix: 70 % new tickets, 20 % replies to an
// earlier mail of the same customer, 5 % with a 200 KB attachment, 5 % in
// other charsets.
func mixedMails(n int) [][]byte {
	attachment := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("%PDF-1.4 binary "), 150<<10/16))
	var out [][]byte
	for i := 0; i < n; i++ {
		date := time.Now().Format(time.RFC1123Z)
		head := fmt.Sprintf("From: Customer %d <c%d@customer.test>\r\nTo: support@desk.test\r\nMessage-ID: <e2e-%d@customer.test>\r\nDate: %s\r\n",
			i, i, i, date)
		var m string
		switch {
		case i%20 < 4 && i >= 20: // a reply to this customer's ticket 20 mails ago
			prev := i - 20
			m = fmt.Sprintf("From: Customer %d <c%d@customer.test>\r\nTo: support@desk.test\r\nMessage-ID: <e2e-%d@customer.test>\r\n"+
				"Date: %s\r\nIn-Reply-To: <e2e-%d@customer.test>\r\nSubject: Re: Question %d\r\n\r\nStill broken.\r\n\r\n"+
				"On Mon, Customer wrote:\r\n> Question %d\r\n", prev, prev, i, date, prev, prev, prev)
		case i%20 == 4:
			m = head + fmt.Sprintf("Subject: Log %d\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"+
				"--b\r\nContent-Type: text/plain\r\n\r\nLog attached.\r\n--b\r\nContent-Type: application/pdf; name=log.pdf\r\n"+
				"Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--b--\r\n", i, attachment)
		case i%20 == 5:
			m = head + fmt.Sprintf("Subject: =?ISO-8859-1?Q?Fr=E4ge_%d?=\r\nMIME-Version: 1.0\r\n"+
				"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"+
				"Gr=FC=DFe, mein Drucker geht nicht.\r\n", i)
		default:
			m = head + fmt.Sprintf("Subject: Question %d\r\n\r\nHow do I reset my password? Order %d.\r\n", i, i)
		}
		out = append(out, []byte(m))
	}
	return out
}

// servers is the CPU time PostgreSQL and Postfix have used so far.
type servers struct{ postgres, postfix time.Duration }

func serversNow() servers { return servers{postgresCPU(), postfixCPU()} }

// phaseCost is the CPU each part used over a phase, and helpdesk's peak RSS.
type phaseCost struct {
	helpdesk, postgres, postfix time.Duration
	rss                         int64
}

// since is the phaseCost from s until now; pid is the daemon, started after s.
func (s servers) since(pid int) phaseCost {
	now := serversNow()
	return phaseCost{procCPU(pid, false), now.postgres - s.postgres, now.postfix - s.postfix, procPeakRSS(pid)}
}

// per is the CPU per item of each part, as a log line.
func (u phaseCost) per(n int) string {
	f := func(d time.Duration) float64 { return ms(d) / float64(n) }
	return fmt.Sprintf("helpdesk %.2f ms CPU, PostgreSQL %.2f ms, Postfix %.2f ms", f(u.helpdesk), f(u.postgres), f(u.postfix))
}

func ms(d time.Duration) float64 { return d.Seconds() * 1000 }

// postgresCPU sums the CPU time of every postgres process, and of the
// backends that have exited (counted in the postmaster's children's time).
func postgresCPU() time.Duration {
	return serverCPU(func(comm, exe string) bool { return strings.HasPrefix(comm, "postgres") })
}

// postfixCPU sums the CPU time of Postfix's processes (master, smtpd,
// cleanup, qmgr, discard, ...), exited ones included.
func postfixCPU() time.Duration {
	return serverCPU(func(comm, exe string) bool { return strings.Contains(exe, "/postfix/") })
}

// serverCPU sums utime+stime of the processes that match, plus the time of
// their reaped children: a server's short-lived workers count too.
func serverCPU(match func(comm, exe string) bool) time.Duration {
	var total time.Duration
	procs, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, p := range procs {
		dir := filepath.Dir(p)
		comm, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		exe, _ := os.Readlink(filepath.Join(dir, "exe"))
		if !match(strings.TrimSpace(string(comm)), exe) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(dir))
		total += procCPU(pid, true)
	}
	return total
}

// procCPU is utime+stime from /proc/PID/stat (clock ticks of 10 ms), with
// cutime+cstime (reaped children) when children is set.
func procCPU(pid int, children bool) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 15 {
		return 0
	}
	fields := f[11:13]
	if children {
		fields = f[11:15]
	}
	var ticks int64
	for _, v := range fields {
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// procPeakRSS is VmHWM from /proc/PID/status, in bytes.
func procPeakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
