package mailout_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"helpdesk/core/coretest"
	"helpdesk/core/mailauth"
	"helpdesk/core/mailauth/mailauthtest"
	"helpdesk/mailin/mailintest"
	"helpdesk/mailout"
	"helpdesk/mailout/mailouttest"
)

// A submission port as Office 365 has it: Postfix offering what Dovecot's
// SASL offers, filtered to LOGIN and XOAUTH2 (no PLAIN). A password goes by LOGIN, a
// token by XOAUTH2, and mail relays only after either.
func TestSubmissionAuthLikeOffice365(t *testing.T) {
	auth := mailauthtest.Start(t, time.Hour)
	d := mailintest.StartDovecot(t, mailintest.DovecotOptions{Mechanisms: "plain login xoauth2", IntrospectURL: auth.IntrospectURL()})
	sink := mailouttest.Start(t)
	relay := mailouttest.StartPostfix(t, mailouttest.Postfix{RelayTo: sink.Addr, SASL: d.SASL, Mechanisms: "login, xoauth2"})
	ctx := context.Background()
	base := mailout.SMTPConfig{Addr: relay, TLS: mailout.TLSNone, Timeout: 5 * time.Second}

	withPassword := base
	withPassword.User, withPassword.Password = "agent@desk.test", mailintest.Password
	if err := mailout.CheckLogin(ctx, withPassword); err != nil {
		t.Errorf("password over LOGIN: %v", err)
	}
	wrong := withPassword
	wrong.Password = "nope"
	if err := mailout.CheckLogin(ctx, wrong); err == nil || !strings.Contains(err.Error(), "LOGIN") {
		t.Errorf("wrong password: %v, want a refusal of LOGIN", err)
	}

	s := coretest.SeededStore(t)
	tokens := auth.SignedIn(t, s, "", mailauth.SMTP)
	withToken := base
	withToken.User, withToken.Tokens = auth.User, tokens
	if err := mailout.CheckLogin(ctx, withToken); err != nil {
		t.Fatalf("token over XOAUTH2: %v", err)
	}

	// The acknowledgement goes out through the submission port by XOAUTH2.
	ingestGreg(t, s, time.Now())
	startSender(t, s, sink, &clock{t: time.Now()}, func(snd *mailout.Sender) { snd.SMTP, snd.Conns = withToken, 1 })
	deadline := time.Now().Add(30 * time.Second)
	for len(sink.Mails()) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if len(sink.Mails()) == 0 {
		t.Fatal("nothing relayed after XOAUTH2")
	}

	// Without AUTH the port relays nothing.
	if err := smtp.SendMail(relay, nil, "x@desk.test", []string{"greg@example.com"}, strings.NewReader("Subject: x\r\n\r\nx\r\n")); err == nil {
		t.Error("postfix relayed without AUTH: the submission port is open")
	}
}
