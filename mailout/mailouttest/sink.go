// Package mailouttest provides an in-process SMTP server that records what it
// receives and can be told to refuse mail, for tests of outbound delivery.
package mailouttest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mail is one message the sink accepted.
type Mail struct {
	From string
	To   []string
	Data []byte
	At   time.Time
}

// Header parses the message's header.
func (m Mail) Header() mail.Header {
	r, err := mail.CreateReader(bytes.NewReader(m.Data))
	if err != nil {
		return mail.Header{}
	}
	return r.Header
}

// Sink is a recording SMTP server on a loopback port.
type Sink struct {
	Addr string

	mu      sync.Mutex
	mails   []Mail
	replies []error            // answered to DATA in order before accepting, one per message
	byRcpt  map[string][]error // the same, only for messages to one recipient
	unknown map[string]bool    // recipients refused at RCPT, as a server that knows its users
	srv     *smtp.Server
	arrived chan struct{}
	// user and password, when set, are required through AUTH PLAIN.
	user, password string
	refused        int
	delay          time.Duration // before answering DATA: a slow or hanging peer
}

// Delay makes the sink wait d before answering each message's DATA: a slow
// peer, or with a long d one that hangs.
func (s *Sink) Delay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Refused counts the messages the sink answered with an error.
func (s *Sink) Refused() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// Start runs a sink until the test ends.
func Start(t testing.TB) *Sink {
	t.Helper()
	s, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// StartTLS runs a sink that speaks TLS from the first byte (port 465 style)
// with a self-signed certificate, and accepts mail only after AUTH PLAIN
// with user and password.
func StartTLS(t testing.TB, user, password string) *Sink {
	t.Helper()
	cert, err := selfSigned()
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	s := serve(l)
	s.user, s.password = user, password
	t.Cleanup(func() { s.Close() })
	return s
}

// Listen runs a sink on addr until Close.
func Listen(addr string) (*Sink, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return serve(l), nil
}

func serve(l net.Listener) *Sink {
	s := &Sink{Addr: l.Addr().String(), arrived: make(chan struct{}, 1)}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{sink: s, conn: c}, nil
	}))
	s.srv.Domain = "sink.test"
	s.srv.AllowInsecureAuth = true
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	go s.srv.Serve(l)
	return s
}

func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sink.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"sink.test"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// Close stops the server.
func (s *Sink) Close() error { return s.srv.Close() }

// FailNext makes the next len(errs) messages get these replies instead of
// being accepted. Use TempFail and PermFail for the usual ones.
func (s *Sink) FailNext(errs ...error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replies = append(s.replies, errs...)
}

// FailRcpt is FailNext for messages to one recipient only.
func (s *Sink) FailRcpt(rcpt string, errs ...error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byRcpt == nil {
		s.byRcpt = map[string][]error{}
	}
	s.byRcpt[rcpt] = append(s.byRcpt[rcpt], errs...)
}

// RefuseRcpt makes the sink answer RCPT for rcpt with 550 at once, as a
// server refusing an unknown user does (FailRcpt answers at DATA).
func (s *Sink) RefuseRcpt(rcpt string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unknown == nil {
		s.unknown = map[string]bool{}
	}
	s.unknown[rcpt] = true
}

// TempFail is a 451 reply; PermFail a 550 for an unknown mailbox.
var (
	TempFail = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	PermFail = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	// ErrDrop closes the connection in the middle of DATA.
	ErrDrop = errors.New("drop connection")
)

// Mails returns what the sink accepted so far.
func (s *Sink) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// WaitFor waits until at least n mails arrived or the timeout passes, and
// returns what arrived.
func (s *Sink) WaitFor(n int, timeout time.Duration) []Mail {
	deadline := time.After(timeout)
	for {
		if m := s.Mails(); len(m) >= n {
			return m
		}
		select {
		case <-s.arrived:
		case <-deadline:
			return s.Mails()
		}
	}
}

type session struct {
	sink   *Sink
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
	// started: MAIL was accepted and the transaction has not ended.
	started bool
}

func (x *session) Reset()        { x.from, x.to, x.started = "", nil, false }
func (x *session) Logout() error { return nil }
func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.sink.user != "" && !x.authed {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}
	}
	if x.started {
		// As Postfix: a transaction left open (a refused RCPT) needs RSET.
		return &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "nested MAIL command"}
	}
	x.from, x.started = from, true
	return nil
}

func (x *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, password string) error {
		if user != x.sink.user || password != x.sink.password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		x.authed = true
		return nil
	}), nil
}
func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.sink.mu.Lock()
	unknown := x.sink.unknown[to]
	x.sink.mu.Unlock()
	if unknown {
		return PermFail
	}
	x.to = append(x.to, to)
	return nil
}
func (x *session) AuthMechanisms() []string { return []string{"PLAIN"} }

func (x *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s := x.sink
	s.mu.Lock()
	delay := s.delay
	s.mu.Unlock()
	time.Sleep(delay)
	s.mu.Lock()
	var reply error
	for _, to := range x.to {
		if errs := s.byRcpt[to]; len(errs) > 0 && reply == nil {
			reply, s.byRcpt[to] = errs[0], errs[1:]
		}
	}
	if reply == nil && len(s.replies) > 0 {
		reply, s.replies = s.replies[0], s.replies[1:]
	}
	if reply != nil {
		s.refused++
		s.mu.Unlock()
		if reply == ErrDrop {
			x.conn.Conn().Close()
			return errors.New("dropped")
		}
		return reply
	}
	s.mails = append(s.mails, Mail{From: x.from, To: append([]string(nil), x.to...), Data: data, At: time.Now()})
	s.mu.Unlock()
	select {
	case s.arrived <- struct{}{}:
	default:
	}
	return nil
}
