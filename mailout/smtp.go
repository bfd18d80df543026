package mailout

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"helpdesk/core/mailauth"
)

// TLS modes for the SMTP connection.
const (
	TLSNone     = "none"     // plain text; for a local relay on loopback
	TLSStartTLS = "starttls" // upgrade, and refuse to go on if not offered
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
)

// SMTPConfig says how to reach the SMTP server.
type SMTPConfig struct {
	Addr           string // host:port
	TLS            string
	User, Password string
	HeloName       string
	Timeout        time.Duration // for each network step
	// Tokens, when set, signs in with OAuth2 (XOAUTH2 or OAUTHBEARER)
	// instead of the password.
	Tokens             *mailauth.Tokens
	CAFile             string // a private CA for the server's certificate
	InsecureSkipVerify bool   // for tests against self-signed servers only
}

// conn is one SMTP connection, reused across messages.
type conn struct {
	ctx  context.Context // bounds token refreshes
	cfg  SMTPConfig
	c    *smtp.Client
	used time.Time
	// open: a transaction was started and not completed (a refusal or an
	// error mid-way), so the next one must begin with RSET. After a
	// completed DATA the server has reset itself (RFC 5321 4.1.1.4), and
	// an RSET would only cost a round trip per mail.
	open bool
}

func (k *conn) dial() error {
	timeout := k.cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	host, _, err := net.SplitHostPort(k.cfg.Addr)
	if err != nil {
		return fmt.Errorf("smtp address %q: %w", k.cfg.Addr, err)
	}
	tcfg, err := mailauth.TLSConfig(host, k.cfg.CAFile, k.cfg.InsecureSkipVerify)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", k.cfg.Addr, err)
	}
	nc, err := net.DialTimeout("tcp", k.cfg.Addr, timeout)
	if err != nil {
		return fmt.Errorf("dial %s: %w", k.cfg.Addr, err)
	}
	if k.cfg.TLS == TLSImplicit {
		nc = tls.Client(nc, tcfg)
	}
	var c *smtp.Client
	if k.cfg.TLS == TLSStartTLS {
		// go-smtp greets as "localhost" here; the deadline covers the greeting
		// and the upgrade, which run before CommandTimeout applies.
		nc.SetDeadline(time.Now().Add(2 * timeout))
		c, err = smtp.NewClientStartTLS(nc, tcfg)
		if err != nil {
			nc.Close()
			// Fail closed either way: sending credentials or mail in clear
			// text when the operator asked for TLS would be worse than not
			// sending.
			return startTLSFailure(k.cfg.Addr, err)
		}
		nc.SetDeadline(time.Time{})
	} else {
		c = smtp.NewClient(nc)
		helo := k.cfg.HeloName
		if helo == "" {
			helo = "localhost"
		}
		nc.SetDeadline(time.Now().Add(timeout))
		if err := c.Hello(helo); err != nil {
			c.Close()
			return fmt.Errorf("smtp hello: %w", mailauth.ExplainTLS(err))
		}
		nc.SetDeadline(time.Time{})
	}
	c.CommandTimeout, c.SubmissionTimeout = timeout, 2*timeout
	if k.cfg.User != "" {
		if err := k.auth(c); err != nil {
			c.Close()
			return err
		}
	}
	k.c = c
	return nil
}

// startTLSFailure says why STARTTLS failed. go-smtp reports a server that
// does not offer it with an untyped error, so that is the case left once
// the typed ones (a refusal, the network, the certificate) are ruled out.
func startTLSFailure(addr string, err error) error {
	var refused *smtp.SMTPError
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	var alert tls.AlertError
	switch {
	case errors.As(err, &refused):
		return fmt.Errorf("smtp server %s refused STARTTLS, which the config requires: %w", addr, err)
	case errors.As(err, &certErr), errors.As(err, &alert):
		return fmt.Errorf("smtp starttls with %s: %w", addr, mailauth.ExplainTLS(err))
	case errors.As(err, &netErr), errors.Is(err, io.EOF):
		return fmt.Errorf("smtp starttls with %s: %w", addr, err)
	}
	return fmt.Errorf("smtp server %s does not offer STARTTLS, which the config requires (%v)", addr, err)
}

// auth signs in over the mechanism the server advertises for our
// credentials (Office 365 offers LOGIN and XOAUTH2, not PLAIN).
func (k *conn) auth(c *smtp.Client) error {
	creds := mailauth.Credentials{User: k.cfg.User, Password: k.cfg.Password, Tokens: k.cfg.Tokens}
	_, offer := c.Extension("AUTH")
	ctx := k.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	mech, err := creds.Choose(ctx, strings.Fields(offer), k.cfg.Addr)
	if err != nil {
		return fmt.Errorf("smtp auth as %s: %w", k.cfg.User, err)
	}
	if err := c.Auth(mech.Client); err != nil {
		mech.Refused()
		return fmt.Errorf("smtp auth as %s by %s: %w", k.cfg.User, mech.Name, err)
	}
	return nil
}

// send delivers one message, dialling or redialling as needed.
func (k *conn) send(from string, to []string, msg []byte) error {
	// A connection idle for long is likely closed by the server already.
	if k.c != nil && time.Since(k.used) > 30*time.Second {
		k.close()
	}
	reused := k.c != nil
	if err := k.ready(); err != nil {
		return err
	}
	err := k.transaction(from, to, msg)
	var stale *staleConnError
	if reused && errors.As(err, &stale) {
		// The server closed the idle connection before our first command:
		// nothing was sent, so one fresh connection may try again.
		if err := k.ready(); err != nil {
			return err
		}
		err = k.transaction(from, to, msg)
	}
	return err
}

// ready makes sure there is a connection able to start a transaction.
func (k *conn) ready() error {
	if k.c != nil && k.open {
		if err := k.c.Reset(); err != nil {
			k.close()
		}
		k.open = false
	}
	if k.c == nil {
		if err := k.dial(); err != nil {
			return &setupError{err}
		}
	}
	return nil
}

// staleConnError is a connection that failed at the first command of a
// transaction, before any of the mail went out.
type staleConnError struct{ err error }

func (e *staleConnError) Error() string { return e.err.Error() }
func (e *staleConnError) Unwrap() error { return e.err }

// transaction runs MAIL, RCPT and DATA. A network error closes the
// connection, whose state is then unknown.
func (k *conn) transaction(from string, to []string, msg []byte) error {
	k.used, k.open = time.Now(), true
	var opts *smtp.MailOptions
	if !isASCII(from) || !isASCII(strings.Join(to, "")) {
		opts = &smtp.MailOptions{UTF8: true}
	}
	if err := k.c.Mail(from, opts); err != nil {
		if !isReply(err) {
			k.close()
			return &staleConnError{err}
		}
		return err
	}
	err := k.data(to, msg)
	if err == nil {
		k.open = false
		return nil
	}
	if !isReply(err) {
		k.close()
	}
	return err
}

func (k *conn) data(to []string, msg []byte) error {
	for _, rcpt := range to {
		if err := k.c.Rcpt(rcpt, nil); err != nil {
			return err
		}
	}
	w, err := k.c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	return w.Close()
}

// isReply reports an error that is the server's answer, after which the
// session goes on; anything else leaves it in an unknown state.
func isReply(err error) bool {
	var smtpErr *smtp.SMTPError
	return errors.As(err, &smtpErr)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func (k *conn) close() {
	k.open = false
	if k.c != nil {
		k.c.Quit()
		k.c.Close()
		k.c = nil
	}
}

// setupError is a failure to get a usable connection: the server down, TLS
// refused or missing (we fail closed, never sending in clear), credentials
// rejected. None says anything about the mail, so the mail waits and is
// retried until the operator fixes the cause, however the server replied.
type setupError struct{ err error }

func (e *setupError) Error() string { return e.err.Error() }
func (e *setupError) Unwrap() error { return e.err }

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// permanent reports whether a send error means the mail will never go: a 5xx
// reply or a configuration problem. Anything else, 4xx or network, is retried.
func permanent(err error) bool {
	var setup *setupError
	if errors.As(err, &setup) {
		return false
	}
	var smtpErr *smtp.SMTPError
	if errors.As(err, &smtpErr) {
		return smtpErr.Code >= 500
	}
	var p *permanentError
	return errors.As(err, &p)
}

// badAddress reports a permanent failure of the address itself (5.1.x:
// no such user, bad domain), as opposed to one of this message.
func badAddress(err error) bool {
	if !permanent(err) {
		return false
	}
	var smtpErr *smtp.SMTPError
	return errors.As(err, &smtpErr) && smtpErr.Code >= 500 && smtpErr.EnhancedCode[0] == 5 && smtpErr.EnhancedCode[1] == 1
}

// CheckLogin connects and signs in to the SMTP server, then leaves:
// `helpdesk auth login --smtp` proves a new grant with it.
func CheckLogin(ctx context.Context, cfg SMTPConfig) error {
	k := &conn{ctx: ctx, cfg: cfg}
	defer k.close()
	return k.dial()
}
