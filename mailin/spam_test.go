package mailin

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"helpdesk/core"
	"helpdesk/mailin/mailintest"
)

// gtube is SpamAssassin's test pattern: any message carrying it is spam.
const gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

func spamMail(n int) []byte {
	return []byte(fmt.Sprintf("From: Winner <winner%d@lottery.example>\r\nTo: support@desk.test\r\nSubject: You won %d\r\n"+
		"Message-ID: <spam-%d@lottery.example>\r\nDate: %s\r\n\r\n%s\r\n", n, n, n, time.Now().Format(time.RFC1123Z), gtube))
}

// withSpamdHeaders runs a message through spamc, as an MX with SpamAssassin
// does, and returns it with the X-Spam-* headers spamd wrote.
func withSpamdHeaders(t *testing.T, addr string, raw []byte) []byte {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command("spamc", "-d", host, "-p", port)
	cmd.Stdin = bytes.NewReader(raw)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("spamc: %v", err)
	}
	return out
}

func TestHeaderVerdicts(t *testing.T) {
	for _, c := range []struct {
		name, head string
		threshold  float64
		spam, ok   bool
	}{
		{"spamassassin yes", "X-Spam-Status: Yes, score=1002.7 required=5.0 tests=GTUBE autolearn=no\r\n", 0, true, true},
		{"spamassassin no", "X-Spam-Status: No, score=1.2 required=5.0 tests=NONE\r\n", 0, false, true},
		{"folded status", "X-Spam-Status: Yes, score=7.1 required=5.0\r\n\ttests=BAYES_99,URIBL autolearn=no\r\n", 0, true, true},
		{"our threshold is stricter", "X-Spam-Status: No, score=4.0 required=5.0\r\n", 3.5, true, true},
		{"our threshold is laxer", "X-Spam-Status: Yes, score=6.0 required=5.0\r\n", 10, false, true},
		{"flag only", "X-Spam-Flag: YES\r\n", 0, true, true},
		{"rspamd result", "X-Spamd-Result: default: True [15.20 / 15.00]; R_SPF_FAIL(1.00)[-all]\r\n", 0, true, true},
		{"rspamd clean", "X-Spamd-Result: default: False [1.10 / 15.00]\r\n", 0, false, true},
		{"rspamd x-spam", "X-Spam: Yes\r\n", 0, true, true},
		{"no verdict", "X-Mailer: Outlook\r\n", 0, false, false},
	} {
		p, err := Parse([]byte("From: a@example.com\r\n"+c.head+"Subject: x\r\n\r\nbody\r\n"), DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		v, ok := headerVerdict(p.Header, c.threshold)
		if v.Spam != c.spam || ok != c.ok {
			t.Errorf("%s: spam %v found %v (%s), want %v %v", c.name, v.Spam, ok, v.Detail, c.spam, c.ok)
		}
	}
}

// spamdesk is a desk whose intake judges spam with the private spamd.
func spamdesk(t *testing.T, sc *SpamCheck) *desk {
	d := newDesk(t)
	d.in.Spam = sc
	return d
}

// GTUBE and a clean mail, judged by spamd's headers (as an MX that runs
// SpamAssassin writes them) and by asking spamd directly: spam is stored
// and nothing more; the clean mail opens a ticket.
func TestSpamdVerdicts(t *testing.T) {
	addr := mailintest.SpamdAddr(t)
	clean := []byte(fmt.Sprintf("From: Greg <greg@example.com>\r\nTo: support@desk.test\r\nSubject: Trackpad\r\n"+
		"Message-ID: <clean@example.com>\r\nDate: %s\r\n\r\nMy trackpad stopped working after the update.\r\n", time.Now().Format(time.RFC1123Z)))
	for _, c := range []struct {
		name string
		sc   *SpamCheck
		prep func([]byte) []byte
	}{
		{"by headers", &SpamCheck{TrustHeaders: true}, func(b []byte) []byte { return withSpamdHeaders(t, addr, b) }},
		{"by scanning", &SpamCheck{Scanner: Spamd{Addr: addr}}, func(b []byte) []byte { return b }},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := spamdesk(t, c.sc)
			out, err := d.in.Deliver(context.Background(), Source{Mailbox: "support", DefaultTopic: "SEV-C"}, c.prep(spamMail(1)))
			if err != nil {
				t.Fatal(err)
			}
			if out.Class != core.ClassSpam || out.Ticket != 0 || out.Created {
				t.Errorf("GTUBE: %+v, want spam with no ticket", out)
			}
			// Within a day only the admins' daily spam digest is due.
			for _, m := range d.outbox() {
				if !strings.HasPrefix(m, core.TemplateSpamDigest+"→") {
					t.Errorf("spam caused mail: %s", m)
				}
			}
			out, err = d.in.Deliver(context.Background(), Source{Mailbox: "support", DefaultTopic: "SEV-C"}, c.prep(clean))
			if err != nil {
				t.Fatal(err)
			}
			if out.Class != core.ClassHuman || !out.Created {
				t.Errorf("clean mail: %+v, want a new ticket", out)
			}
			list, err := d.s.SpamList(context.Background())
			if err != nil || len(list) != 1 || !strings.Contains(list[0].Note, "score") {
				t.Errorf("spam list %+v (%v), want GTUBE with its score", list, err)
			}
		})
	}
}

// A scanner that is down holds nothing: mail is taken in unscanned, marked,
// and the next messages do not wait for it either.
func TestScannerDownTakesMailUnscanned(t *testing.T) {
	d := spamdesk(t, &SpamCheck{Scanner: Spamd{Addr: "127.0.0.1:1"}, Timeout: 2 * time.Second})
	for i := 0; i < 3; i++ {
		out := d.deliver(fmt.Sprintf("From: C%d <c%d@example.com>\r\nTo: support@desk.test\r\nSubject: Help %d\r\n", i, i, i), "Hello.")
		if !out.Created || out.Class != core.ClassHuman {
			t.Errorf("message %d: %+v, want a ticket", i, out)
		}
	}
	var note string
	if err := pgxQueryRow(t, d.s, `SELECT note FROM messages ORDER BY id DESC LIMIT 1`, &note); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(note, "unscanned") {
		t.Errorf("message note %q, want it marked unscanned", note)
	}
}

// A forged sender (trusted DMARC fail) gets no acknowledgement: answering
// would be backscatter to an innocent address. The ticket is still opened.
func TestForgedSenderGetsNoAcknowledgement(t *testing.T) {
	d := newDesk(t)
	out := d.deliver("Authentication-Results: mx.desk.test; spf=softfail smtp.mailfrom=bank.example; dkim=none; dmarc=fail header.from=bank.example\r\n"+
		"From: Bank <security@bank.example>\r\nTo: support@desk.test\r\nSubject: Verify your account\r\n", "Click here.")
	if !out.Created {
		t.Fatalf("%+v: the ticket must still be opened for a person to judge", out)
	}
	got := d.outbox()
	if has(got, "ack→security@bank.example") {
		t.Errorf("acknowledged a forged sender: %v", got)
	}
	if !has(got, "new_ticket_alert→") {
		t.Errorf("agents not told of the ticket: %v", got)
	}
}
