package main

import (
	"bytes"
	"context"
	"fmt"
	"helpdesk/core"
	"io"
	"log"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"
)

// demoPassword is every demo mailbox's password.
const demoPassword = "demo"

// demoWorld is a small mail system on loopback for `helpdesk demo`: an IMAP
// server holding a mailbox per address, and an SMTP server that delivers
// into them (plus-addressed mail lands in the base address's mailbox).
type demoWorld struct {
	imapAddr, smtpAddr string
	users              map[string]*imapmemserver.User
	transcript         func(format string, args ...any)
	imapSrv            *imapserver.Server
	smtpSrv            *smtp.Server
}

func startDemoWorld(addresses []string, transcript func(string, ...any)) (*demoWorld, error) {
	w := &demoWorld{users: map[string]*imapmemserver.User{}, transcript: transcript}
	mem := imapmemserver.New()
	for _, a := range addresses {
		u := imapmemserver.NewUser(a, demoPassword)
		if err := u.Create("INBOX", nil); err != nil {
			return nil, err
		}
		mem.AddUser(u)
		w.users[a] = u
	}
	w.imapSrv = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: true,
		Logger:       log.New(io.Discard, "", 0),
	})
	il, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	w.imapAddr = il.Addr().String()
	go w.imapSrv.Serve(il)

	w.smtpSrv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &demoSession{w: w}, nil }))
	w.smtpSrv.Domain = "demo.test"
	w.smtpSrv.ErrorLog = log.New(io.Discard, "", 0)
	sl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		w.imapSrv.Close()
		return nil, err
	}
	w.smtpAddr = sl.Addr().String()
	go w.smtpSrv.Serve(sl)
	return w, nil
}

func (w *demoWorld) Close() {
	w.smtpSrv.Close()
	w.imapSrv.Close()
}

// deliver puts a message into a local mailbox, as an MTA would.
func (w *demoWorld) deliver(rcpt string, raw []byte) error {
	u, ok := w.users[core.BaseAddress(rcpt)]
	if !ok {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox here"}
	}
	_, err := u.Append("INBOX", literal{bytes.NewReader(raw), int64(len(raw))}, &imap.AppendOptions{Time: time.Now()})
	return err
}

type literal struct {
	*bytes.Reader
	n int64
}

func (l literal) Size() int64 { return l.n }

type demoSession struct {
	w    *demoWorld
	from string
	to   []string
}

func (s *demoSession) Reset()                                      { s.from, s.to = "", nil }
func (s *demoSession) Logout() error                               { return nil }
func (s *demoSession) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }
func (s *demoSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if _, ok := s.w.users[core.BaseAddress(to)]; !ok {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox here"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *demoSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := readMail(raw)
	for _, to := range s.to {
		s.w.transcript("  mail  %-26s → %-28s %s", s.from, core.BaseAddress(to), m.Subject)
		if err := s.w.deliver(to, raw); err != nil {
			return err
		}
	}
	return nil
}

// demoMail is a message read back from a mailbox.
type demoMail struct {
	Subject, ReplyTo, MessageID, Body string
	Files                             []string // names of attached files
}

// readMail parses the parts of a message a person reads.
func readMail(raw []byte) demoMail {
	var m demoMail
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		return m
	}
	m.Subject, _ = r.Header.Subject()
	if rt, err := r.Header.AddressList("Reply-To"); err == nil && len(rt) > 0 {
		m.ReplyTo = rt[0].Address
	}
	m.MessageID, _ = r.Header.MessageID()
	for {
		p, err := r.NextPart()
		if err != nil {
			break
		}
		switch h := p.Header.(type) {
		case *mail.InlineHeader:
			if ct, _, _ := h.ContentType(); ct == "text/plain" && m.Body == "" {
				b, _ := io.ReadAll(p.Body)
				m.Body = string(b)
			}
		case *mail.AttachmentHeader:
			name, _ := h.Filename()
			m.Files = append(m.Files, name)
		}
	}
	return m
}

// inbox reads a person's mailbox over IMAP, as their mail client would.
type inbox struct {
	addr, user string
	seen       map[string]bool
}

// wait returns the first unread mail whose subject contains subj.
func (b *inbox) wait(ctx context.Context, subj string, timeout time.Duration) (demoMail, error) {
	deadline := time.Now().Add(timeout)
	for {
		msgs, err := b.fetch()
		if err != nil {
			return demoMail{}, err
		}
		for _, m := range msgs {
			if strings.Contains(m.Subject, subj) && !b.seen[m.MessageID] {
				b.seen[m.MessageID] = true
				return m, nil
			}
		}
		if time.Now().After(deadline) {
			return demoMail{}, fmt.Errorf("%s never received a mail about %q", b.user, subj)
		}
		select {
		case <-ctx.Done():
			return demoMail{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (b *inbox) fetch() ([]demoMail, error) {
	c, err := imapclient.DialInsecure(b.addr, nil)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Login(b.user, demoPassword).Wait(); err != nil {
		return nil, err
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil || sel.NumMessages == 0 {
		return nil, err
	}
	msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		return nil, err
	}
	var out []demoMail
	for _, m := range msgs {
		for _, s := range m.BodySection {
			out = append(out, readMail(s.Bytes))
		}
	}
	return out, nil
}

// send mails raw from one address to another through the demo's SMTP server.
// The demo server offers no TLS, so this speaks plain SMTP.
func (w *demoWorld) send(from, to string, raw []byte) error {
	c, err := smtp.Dial(w.smtpAddr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendMail(from, []string{to}, bytes.NewReader(raw)); err != nil {
		return err
	}
	return c.Quit()
}
