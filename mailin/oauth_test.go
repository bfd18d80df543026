package mailin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"golang.org/x/oauth2"

	"helpdesk/core"
	"helpdesk/core/coretest"
	"helpdesk/core/mailauth"
	"helpdesk/core/mailauth/mailauthtest"
	"helpdesk/mailin/mailintest"
)

// oauthMailbox is a mailbox on d signing in with a stored grant from auth.
func oauthMailbox(t *testing.T, s *core.Store, auth *mailauthtest.Server, d *mailintest.Dovecot) Mailbox {
	t.Helper()
	tokens := auth.SignedIn(t, s, "support", mailauth.IMAP)
	_, port, _ := strings.Cut(d.IMAP, ":")
	return Mailbox{Name: "support", Addr: "localhost:" + port, TLS: TLSStartTLS, User: auth.User, Tokens: tokens,
		CAFile: d.CA.CAFile, PollInterval: 200 * time.Millisecond}
}

// Dovecot's oauth2 passdb checks the token with our test authorization
// server; the mechanism is whichever the server offers.
func TestOAuthLoginByEachMechanism(t *testing.T) {
	for _, mech := range []string{"xoauth2", "oauthbearer"} {
		t.Run(mech, func(t *testing.T) {
			auth := mailauthtest.Start(t, time.Hour)
			d := mailintest.StartDovecot(t, mailintest.DovecotOptions{Mechanisms: "plain " + mech, IntrospectURL: auth.IntrospectURL()})
			mb := oauthMailbox(t, coretest.NewStore(t), auth, d)
			if err := CheckLogin(context.Background(), mb); err != nil {
				t.Fatalf("sign in by %s: %v", mech, err)
			}
			auth.Revoke(auth.User) // the token Dovecot sees is now refused
			mb.Tokens.Token(context.Background())
			err := CheckLogin(context.Background(), mb)
			if err == nil || !strings.Contains(err.Error(), strings.ToUpper(mech)) {
				t.Fatalf("sign in with a revoked grant: %v, want a refusal naming %s", err, strings.ToUpper(mech))
			}
		})
	}
}

// The token lapses while the poller idles: it signs in again with a fresh
// one before the server would end the session, and mail keeps coming.
func TestOAuthSessionRenewedBeforeTheTokenLapses(t *testing.T) {
	auth := mailauthtest.Start(t, 3*time.Second)
	d := mailintest.StartDovecot(t, mailintest.DovecotOptions{Mechanisms: "plain xoauth2", IntrospectURL: auth.IntrospectURL()})
	s := coretest.SeededStore(t)
	mb := oauthMailbox(t, s, auth, d)
	acct := d.Account(auth.User)
	c := acct.Dial(t)
	p := &Poller{Mailbox: mb, Intake: &Intake{Store: s, Desk: []string{"support@desk.test"}, Log: quiet()}, Log: quiet()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	now := time.Now()
	acct.Append(t, c, "INBOX", testMail(1, now))
	if got := len(waitTickets(t, s, 1)); got != 1 {
		t.Fatalf("%d tickets, want 1", got)
	}
	time.Sleep(5 * time.Second) // past the first token's life
	acct.Append(t, c, "INBOX", testMail(2, now))
	if got := len(waitTickets(t, s, 2)); got != 2 {
		t.Fatalf("%d tickets after the first token lapsed, want 2", got)
	}
	if n := auth.Count("refresh_token"); n < 2 {
		t.Errorf("%d refreshes in 5 s of 3-second tokens, want at least 2", n)
	}
}

// A revoked grant stops the poller with the fix in its error (which
// /readyz and the admins' alert carry); signing in again resumes intake.
func TestOAuthRevokedGrantStopsAndResumes(t *testing.T) {
	auth := mailauthtest.Start(t, 2*time.Second)
	d := mailintest.StartDovecot(t, mailintest.DovecotOptions{Mechanisms: "plain xoauth2", IntrospectURL: auth.IntrospectURL()})
	s := coretest.SeededStore(t)
	mb := oauthMailbox(t, s, auth, d)
	errs := make(chan error, 100)
	p := &Poller{Mailbox: mb, Intake: &Intake{Store: s, Desk: []string{"support@desk.test"}, Log: quiet()}, Log: quiet(),
		OnPoll: func(_ string, err error) { errs <- err }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	auth.Revoke(auth.User)
	deadline := time.After(15 * time.Second)
	for {
		var reauth *mailauth.ReauthError
		select {
		case err := <-errs:
			if !errors.As(err, &reauth) {
				continue
			}
		case <-deadline:
			t.Fatal("no ReauthError within 15 s of the revocation")
		}
		if !strings.Contains(reauth.Error(), "helpdesk auth login --mailbox support") {
			t.Fatalf("error lacks the fix: %v", reauth)
		}
		break
	}
	stored, _ := mailauth.MarshalToken(&oauth2.Token{RefreshToken: auth.Issue(auth.User)})
	s.SaveOAuthToken(ctx, mailauth.Account("support"), stored)
	acct := d.Account(auth.User)
	acct.Append(t, acct.Dial(t), "INBOX", testMail(7, time.Now()))
	if got := len(waitTickets(t, s, 1)); got != 1 {
		t.Fatalf("%d tickets after signing in again, want 1", got)
	}
	if mb.Tokens.Failure() != nil {
		t.Errorf("failure still reported after a working sign-in: %v", mb.Tokens.Failure())
	}
}

// TLS as configured: implicit and STARTTLS verified against a private CA
// given in ca_file; without it, with the wrong host name, or with
// STARTTLS not offered, no connection.
func TestIMAPTLSPaths(t *testing.T) {
	auth := mailauthtest.Start(t, time.Hour)
	d := mailintest.StartDovecot(t, mailintest.DovecotOptions{Mechanisms: "plain login", IntrospectURL: auth.IntrospectURL()})
	_, imapPort, _ := strings.Cut(d.IMAP, ":")
	_, imapsPort, _ := strings.Cut(d.IMAPS, ":")
	mb := func(addr, mode, ca string) Mailbox {
		return Mailbox{Name: "support", Addr: addr, TLS: mode, User: "tls-user", Password: mailintest.Password, CAFile: ca}
	}
	ok := []Mailbox{
		mb("localhost:"+imapsPort, TLSImplicit, d.CA.CAFile),
		mb("localhost:"+imapPort, TLSStartTLS, d.CA.CAFile),
	}
	for _, m := range ok {
		if err := CheckLogin(context.Background(), m); err != nil {
			t.Errorf("tls %s: %v", m.TLS, err)
		}
	}
	refused := []struct {
		mb   Mailbox
		want string
	}{
		{mb("localhost:"+imapsPort, TLSImplicit, ""), "ca_file"},
		{mb("localhost:"+imapPort, TLSStartTLS, ""), "ca_file"},
		{mb("127.0.0.1:"+imapsPort, TLSImplicit, d.CA.CAFile), "not for the host name"},
		{mb("127.0.0.1:"+imapPort, TLSStartTLS, d.CA.CAFile), "not for the host name"},
	}
	if addr := mailintest.DovecotAddr(); addr != "" { // scripts/test's Dovecot offers no TLS
		refused = append(refused, struct {
			mb   Mailbox
			want string
		}{mb(addr, TLSStartTLS, d.CA.CAFile), "refused STARTTLS"})
	}
	for _, c := range refused {
		err := CheckLogin(context.Background(), c.mb)
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(c.want)) {
			t.Errorf("%s tls %s ca %q: %v, want a refusal mentioning %q", c.mb.Addr, c.mb.TLS, c.mb.CAFile, err, c.want)
		}
	}
}

// Exchange's and RFC 5530's "you ask too much" answers make the poller
// wait long; other refusals do not.
func TestThrottlingAnswersAreRecognised(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{&imap.Error{Type: imap.StatusResponseTypeNo, Code: "THROTTLED", Text: "Request is throttled"}, true},
		{fmt.Errorf("login: %w", &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeLimit}), true},
		{&imap.Error{Type: imap.StatusResponseTypeBye, Code: imap.ResponseCodeUnavailable}, true},
		{&imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed}, false},
		{errors.New("connection reset"), false},
		{nil, false},
	}
	for _, c := range cases {
		if got := throttled(c.err); got != c.want {
			t.Errorf("throttled(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
