package mailauth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"helpdesk/core"
	"helpdesk/core/coretest"
	"helpdesk/core/mailauth"
	"helpdesk/core/mailauth/mailauthtest"
)

func TestChooseMechanismFromTheOffer(t *testing.T) {
	auth := mailauthtest.Start(t, time.Hour)
	tokens := delegated(t, coretest.NewStore(t), auth, "support")
	password := mailauth.Credentials{User: "support@desk.test", Password: "pw"}
	token := mailauth.Credentials{User: "support@desk.test", Tokens: tokens}
	cases := []struct {
		creds   mailauth.Credentials
		offered []string
		want    string // mechanism, or "error"
	}{
		{password, []string{"PLAIN", "LOGIN"}, "PLAIN"},
		{password, []string{"LOGIN", "XOAUTH2"}, "LOGIN"}, // Office 365's SMTP
		{password, []string{"login"}, "LOGIN"},
		{password, []string{"XOAUTH2"}, "error"},
		{password, nil, "error"},
		{token, []string{"PLAIN", "XOAUTH2", "OAUTHBEARER"}, "OAUTHBEARER"},
		{token, []string{"LOGIN", "XOAUTH2"}, "XOAUTH2"}, // Microsoft
		{token, []string{"PLAIN", "LOGIN"}, "error"},
	}
	for _, c := range cases {
		m, err := c.creds.Choose(context.Background(), c.offered, "mail.desk.test:993")
		got := m.Name
		if err != nil {
			got = "error"
		}
		if got != c.want {
			t.Errorf("oauth=%v offered %v: chose %q (%v), want %q", c.creds.OAuth(), c.offered, got, err, c.want)
		}
	}
	m, err := token.Choose(context.Background(), []string{"XOAUTH2"}, "mail.desk.test:993")
	if err != nil {
		t.Fatal(err)
	}
	_, ir, _ := m.Client.Start()
	if !strings.HasPrefix(string(ir), "user=support@desk.test\x01auth=Bearer ") || !strings.HasSuffix(string(ir), "\x01\x01") {
		t.Errorf("XOAUTH2 initial response %q", ir)
	}
}

// delegated stores a signed-in grant for mailbox and returns its tokens.
func delegated(t *testing.T, s *core.Store, auth *mailauthtest.Server, mailbox string) *mailauth.Tokens {
	return auth.SignedIn(t, s, mailbox, mailauth.IMAP)
}

func settings(auth *mailauthtest.Server, grant string) mailauth.OAuth {
	return auth.Settings(grant, mailauth.IMAP)
}

// Several daemons needing a fresh token at once: one refreshes, the others
// take its result from the database.
func TestOneRefreshAcrossDaemons(t *testing.T) {
	auth := mailauthtest.Start(t, time.Hour)
	s := coretest.NewStore(t)
	first := delegated(t, s, auth, "support")
	var daemons []*mailauth.Tokens
	for range 4 {
		tokens, err := mailauth.NewTokens(context.Background(), coretest.OpenSame(t, s), "support", auth.User, settings(auth, mailauth.GrantDevice))
		if err != nil {
			t.Fatal(err)
		}
		daemons = append(daemons, tokens)
	}
	daemons = append(daemons, first)
	var wg sync.WaitGroup
	got := make([]string, len(daemons))
	for i, d := range daemons {
		wg.Go(func() {
			tok, err := d.Token(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = tok.AccessToken
		})
	}
	wg.Wait()
	if n := auth.Count("refresh_token"); n != 1 {
		t.Errorf("%d refreshes for 5 daemons, want 1", n)
	}
	for _, g := range got {
		if g != got[0] {
			t.Errorf("daemons hold different tokens: %v", got)
			break
		}
	}
}

// A revoked grant is a ReauthError naming the command that fixes it, the
// admins hear of it once, and signing in again ends it.
func TestRevokedGrantAlertsOnceAndNamesTheFix(t *testing.T) {
	auth := mailauthtest.Start(t, time.Second)
	s := coretest.SeededStore(t)
	tokens := delegated(t, s, auth, "support")
	ctx := context.Background()
	if _, err := tokens.Token(ctx); err != nil {
		t.Fatal(err)
	}
	auth.Revoke(auth.User)
	for range 3 {
		_, err := tokens.Token(ctx)
		var reauth *mailauth.ReauthError
		if !errors.As(err, &reauth) || !strings.Contains(err.Error(), "helpdesk auth login --mailbox support") ||
			!strings.Contains(err.Error(), "invalid_grant") {
			t.Fatalf("after revocation: %v, want a ReauthError naming invalid_grant and the login command", err)
		}
	}
	if tokens.Failure() == nil {
		t.Error("Failure() is nil after a revoked grant")
	}
	// A second daemon meets the same revocation: still one alert.
	other, _ := mailauth.NewTokens(ctx, coretest.OpenSame(t, s), "support", auth.User, settings(auth, mailauth.GrantDevice))
	if _, err := other.Token(ctx); err == nil {
		t.Fatal("second daemon got a token from a revoked grant")
	}
	if n := countMail(t, s, core.TemplateOAuthFailure); n != 1 {
		t.Errorf("%d oauth failure alerts, want 1", n)
	}
	stored, _ := mailauth.MarshalToken(&oauth2.Token{RefreshToken: auth.Issue(auth.User)})
	if err := s.SaveOAuthToken(ctx, mailauth.Account("support"), stored); err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.Token(ctx); err != nil || tokens.Failure() != nil {
		t.Fatalf("after signing in again: %v, failure %v", err, tokens.Failure())
	}
	auth.Revoke(auth.User)
	tokens.Token(ctx)
	if n := countMail(t, s, core.TemplateOAuthFailure); n != 1 {
		t.Errorf("a new revocation after a new sign-in made %d more alerts, want 1", n)
	}
}

// countMail claims the queued mail and counts that of one template.
func countMail(t *testing.T, s *core.Store, template string) int {
	t.Helper()
	mails, err := s.ClaimOutbox(context.Background(), 100, time.Hour, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range mails {
		s.MarkSent(context.Background(), m, time.Now())
		if m.Template == template {
			n++
		}
	}
	return n
}

func TestNoSignInYetIsAReauthError(t *testing.T) {
	auth := mailauthtest.Start(t, time.Hour)
	tokens, err := mailauth.NewTokens(context.Background(), coretest.SeededStore(t), "billing", auth.User, settings(auth, mailauth.GrantBrowser))
	if err != nil {
		t.Fatal(err)
	}
	_, err = tokens.Token(context.Background())
	var reauth *mailauth.ReauthError
	if !errors.As(err, &reauth) || reauth.Fix != "helpdesk auth login --mailbox billing" {
		t.Fatalf("no stored grant: %v", err)
	}
}

// A provider's outage is not a revoked grant: no alert, retried later.
func TestProviderOutageIsRetried(t *testing.T) {
	s := coretest.SeededStore(t)
	stored, _ := mailauth.MarshalToken(&oauth2.Token{RefreshToken: "r"})
	s.SaveOAuthToken(context.Background(), "mailbox support", stored)
	o := mailauth.OAuth{Provider: mailauth.Generic, Grant: mailauth.GrantDevice, ClientID: "x", TokenURL: "http://127.0.0.1:1/token", DeviceURL: "http://127.0.0.1:1/d"}
	tokens, _ := mailauth.NewTokens(context.Background(), s, "support", "u", o)
	_, err := tokens.Token(context.Background())
	var reauth *mailauth.ReauthError
	if err == nil || errors.As(err, &reauth) {
		t.Fatalf("unreachable token endpoint: %v, want a plain (retried) error", err)
	}
	if n := countMail(t, s, core.TemplateOAuthFailure); n != 0 {
		t.Errorf("%d alerts for a provider outage, want 0", n)
	}
}

// The stored grant is sealed: not readable in the database, not usable
// with another secret, not movable to another account.
func TestStoredGrantIsSealed(t *testing.T) {
	s := coretest.NewStore(t)
	ctx := context.Background()
	if err := s.SaveOAuthToken(ctx, "mailbox support", []byte(`{"refresh_token":"RT-SECRET-123"}`)); err != nil {
		t.Fatal(err)
	}
	got, err := s.UpdateOAuthToken(ctx, "mailbox support", func([]byte) ([]byte, error) { return nil, nil })
	if err != nil || !strings.Contains(string(got), "RT-SECRET-123") {
		t.Fatalf("read back %q, %v", got, err)
	}
	other := coretest.OpenSameWith(t, s, core.Options{Domain: "desk.test", Secret: []byte("another-secret-entirely")})
	if _, err := other.UpdateOAuthToken(ctx, "mailbox support", func([]byte) ([]byte, error) { return nil, nil }); err == nil ||
		!strings.Contains(err.Error(), "secret") {
		t.Errorf("opened with another secret: %v", err)
	}
	if dump := coretest.Dump(t, s, "SELECT sealed::text FROM oauth_tokens"); strings.Contains(dump, "RT-SECRET") ||
		strings.Contains(dump, hexOf("RT-SECRET")) {
		t.Errorf("refresh token readable in the table: %s", dump)
	}
}

func hexOf(s string) string {
	const digits = "0123456789abcdef"
	var b strings.Builder
	for _, c := range []byte(s) {
		b.WriteByte(digits[c>>4])
		b.WriteByte(digits[c&15])
	}
	return b.String()
}

// Microsoft's application access with a certificate: the assertion is
// signed by its key, names the token endpoint and carries the thumbprint.
func TestClientCredentialsWithCertificate(t *testing.T) {
	auth := mailauthtest.Start(t, time.Hour)
	certFile, cert := appCertificate(t)
	auth.AppCertificate = cert
	o := settings(auth, mailauth.GrantClientCredentials)
	o.CertificateFile = certFile
	tokens, err := mailauth.NewTokens(context.Background(), coretest.SeededStore(t), "support", auth.User, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.Token(context.Background()); err != nil {
		t.Fatalf("certificate credentials: %v", err)
	}
	o.CertificateFile, o.ClientSecret = "", "wrong"
	auth.ClientSecret = "right"
	bad, _ := mailauth.NewTokens(context.Background(), coretest.SeededStore(t), "support", auth.User, o)
	_, err = bad.Token(context.Background())
	var reauth *mailauth.ReauthError
	if !errors.As(err, &reauth) || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("wrong client secret: %v, want a ReauthError with invalid_client", err)
	}
	if auth.Count("client_credentials") != 1 {
		t.Errorf("%d client-credential tokens, want 1", auth.Count("client_credentials"))
	}
}

// Google's domain-wide delegation: the service account's JWT names the
// mailbox user as its subject.
func TestServiceAccountActsAsTheMailbox(t *testing.T) {
	auth := mailauthtest.Start(t, time.Hour)
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	auth.ServiceAccountKey = &key.PublicKey
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	sa, _ := json.Marshal(map[string]string{"type": "service_account", "client_email": "helpdesk@project.iam.gserviceaccount.com",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "private_key_id": "k1",
		"token_uri": auth.TokenURL()})
	file := filepath.Join(t.TempDir(), "sa.json")
	os.WriteFile(file, sa, 0o600)
	o := mailauth.OAuth{Provider: mailauth.Google, Grant: mailauth.GrantServiceAccount, ServiceAccountFile: file}.Resolved(mailauth.IMAP)
	tokens, err := mailauth.NewTokens(context.Background(), coretest.SeededStore(t), "support", "support@desk.test", o)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokens.Token(context.Background())
	if err != nil {
		t.Fatalf("service account: %v", err)
	}
	if user := auth.UserOf(tok.AccessToken); user != "support@desk.test" {
		t.Errorf("token is for %q, want the mailbox user", user)
	}
}

func appCertificate(t *testing.T) (string, *x509.Certificate) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "helpdesk app"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	cert, _ := x509.ParseCertificate(der)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	file := filepath.Join(t.TempDir(), "app.pem")
	pemData := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...)
	os.WriteFile(file, pemData, 0o600)
	if _, err := tls.LoadX509KeyPair(file, file); err != nil {
		t.Fatal(err)
	}
	return file, cert
}

func TestCheckNamesWhatIsMissing(t *testing.T) {
	cases := []struct {
		o    mailauth.OAuth
		want string
	}{
		{mailauth.OAuth{Provider: "microsoft"}, "client_id"},
		{mailauth.OAuth{Provider: "yahoo", ClientID: "x"}, "provider"},
		{mailauth.OAuth{Provider: "generic", ClientID: "x"}, "token_url"},
		{mailauth.OAuth{Provider: "microsoft", ClientID: "x", Grant: "client_credentials"}, "client_secret"},
		{mailauth.OAuth{Provider: "google", Grant: "service_account"}, "service_account_file"},
		{mailauth.OAuth{Provider: "google", ClientID: "x", Grant: "password"}, "grant"},
	}
	for _, c := range cases {
		err := c.o.Resolved(mailauth.IMAP).Check()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want it to name %s", c.o, err, c.want)
		}
	}
	ms := mailauth.OAuth{Provider: "microsoft", ClientID: "x", Tenant: "contoso.onmicrosoft.com"}.Resolved(mailauth.SMTP)
	if err := ms.Check(); err != nil || ms.Grant != mailauth.GrantDevice ||
		ms.TokenURL != "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token" ||
		strings.Join(ms.Scopes, " ") != "https://outlook.office.com/SMTP.Send offline_access" {
		t.Errorf("microsoft defaults: %+v %v", ms, err)
	}
	g := mailauth.OAuth{Provider: "google", ClientID: "x", ClientSecret: "y"}.Resolved(mailauth.IMAP)
	if err := g.Check(); err != nil || g.Grant != mailauth.GrantBrowser || g.Scopes[0] != "https://mail.google.com/" {
		t.Errorf("google defaults: %+v %v", g, err)
	}
}
