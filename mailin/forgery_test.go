package mailin

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"helpdesk/core"
	"helpdesk/core/coretest"
)

// Mail that claims to be Garnet's and cannot prove it runs nothing and
// sends the customer nothing; Garnet is told.
func TestForgedAgentMailRunsNothing(t *testing.T) {
	expired := func(d *desk, n int64) string {
		return d.s.MintToken(core.ReplyToken{Ticket: n, Agent: d.agents["garnet@desk.test"], Until: d.now.Add(-48 * time.Hour)})
	}
	for _, c := range []struct {
		name    string
		trusted string // the authserv-id intake believes ("": none declared)
		both    bool   // agent_auth = token+dkim
		headers func(d *desk, n int64) string
	}{
		{"planted header, no trust declared", "", false, func(d *desk, n int64) string {
			return "Authentication-Results: mx.desk.test; dkim=pass header.d=desk.test\r\nFrom: Garnet <garnet@desk.test>\r\n" +
				fmt.Sprintf("To: support@desk.test\r\nSubject: Re: [#%d] x\r\n", n)
		}},
		{"quoted semicolon", "mx.desk.test", false, func(d *desk, n int64) string {
			return `Authentication-Results: mx.desk.test; spf=pass smtp.mailfrom="x;dkim=pass header.d=desk.test"@evil.test` +
				fmt.Sprintf("\r\nFrom: Garnet <garnet@desk.test>\r\nTo: support@desk.test\r\nSubject: Re: [#%d] x\r\n", n)
		}},
		{"public suffix", "mx.desk.test", false, func(d *desk, n int64) string {
			return "Authentication-Results: mx.desk.test; dkim=pass header.i=@test\r\nFrom: Garnet <garnet@desk.test>\r\n" +
				fmt.Sprintf("To: support@desk.test\r\nSubject: Re: [#%d] x\r\n", n)
		}},
		{"leaked token, spoofed From, token+dkim required", "mx.desk.test", true, func(d *desk, n int64) string {
			return fmt.Sprintf("From: Garnet <garnet@desk.test>\r\nTo: support+%s@desk.test\r\nSubject: Re: [#%d] x\r\n", d.token(n, "garnet@desk.test"), n)
		}},
		{"expired token", "", false, func(d *desk, n int64) string {
			return fmt.Sprintf("From: Garnet <garnet@desk.test>\r\nTo: support+%s@desk.test\r\nSubject: Re: [#%d] x\r\n", expired(d, n), n)
		}},
		{"two-address From", "", false, func(d *desk, n int64) string {
			return fmt.Sprintf("From: Garnet <garnet@desk.test>, Mallory <mallory@evil.test>\r\nTo: support+%s@desk.test\r\nSubject: Re: [#%d] x\r\n",
				d.token(n, "garnet@desk.test"), n)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := newDesk(t)
			if c.both {
				d.s = coretest.OpenSameWith(t, d.s, core.Options{AgentAuth: core.AgentAuthBoth})
				d.in.Store = d.s
			}
			d.in.TrustedAuthServID = c.trusted
			n := d.newTicket("Greg <greg@example.com>", "support@desk.test", "Printer", "It is on fire.") // SEV-C: Garnet's team
			out := d.deliver(c.headers(d, n), "/close\nFixed, closing.")
			if !out.Unverified {
				t.Errorf("outcome %+v, want unverified", out)
			}
			if st := d.thread(n).Ticket.Status; st != core.StatusOpen {
				t.Errorf("status %s: a command ran", st)
			}
			mails := d.outbox()
			if has(mails, "→greg@example.com") {
				t.Errorf("the customer got mail: %v", mails)
			}
			if !has(mails, core.TemplateUnverified+"→garnet@desk.test") {
				t.Errorf("Garnet was not told: %v", mails)
			}
		})
	}
}

// With verify_dkim, helpdesk checks an agent's DKIM signature itself,
// trusting no header: a signed mail proves Garnet; the same mail altered
// on the way does not.
func TestOwnDKIMVerificationProvesAgent(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	zone := map[string]string{"s1._domainkey.desk.test": "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}
	lookup := func(domain string) ([]string, error) {
		if v, ok := zone[domain]; ok {
			return []string{v}, nil
		}
		return nil, fmt.Errorf("no TXT record for %s", domain)
	}
	sign := func(raw string) string {
		var out bytes.Buffer
		if err := dkim.Sign(&out, strings.NewReader(raw), &dkim.SignOptions{Domain: "desk.test", Selector: "s1", Signer: key,
			HeaderKeys: []string{"From", "To", "Subject", "Message-ID"}}); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	for _, c := range []struct {
		name   string
		tamper bool
		closed bool
	}{{"signed", false, true}, {"altered after signing", true, false}} {
		t.Run(c.name, func(t *testing.T) {
			d := newDesk(t)
			d.in.TrustedAuthServID = ""
			d.in.DKIM = &DKIMCheck{Domains: []string{"desk.test"}, LookupTXT: lookup}
			n := d.newTicket("Greg <greg@example.com>", "support@desk.test", "Printer", "It is on fire.")
			raw := sign(fmt.Sprintf("From: Garnet <garnet@desk.test>\r\nTo: support@desk.test\r\nSubject: Re: [#%d] x\r\n"+
				"Message-ID: <dkim-%s@desk.test>\r\n\r\n/close\r\nFixed.\r\n", n, strings.ReplaceAll(c.name, " ", "-")))
			if c.tamper {
				raw = strings.Replace(raw, "/close", "/close\r\n/priority high", 1)
			}
			if _, err := d.in.Deliver(context.Background(), Source{Mailbox: "support", DefaultTopic: "SEV-C"}, []byte(raw)); err != nil {
				t.Fatal(err)
			}
			if closed := d.thread(n).Ticket.Status == core.StatusClosed; closed != c.closed {
				t.Errorf("closed %v, want %v", closed, c.closed)
			}
		})
	}
}
