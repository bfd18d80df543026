// Package mailintest gives tests an IMAP server: a real Dovecot when
// HELPDESK_TEST_IMAP_ADDR names one (scripts/test starts it), otherwise
// go-imap's in-memory server.
package mailintest

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"log"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"helpdesk/core/coretest"
)

// Password is every test account's password (Dovecot's test config accepts
// it for any user name, so each test gets a fresh, empty account).
const Password = "secret"

// Account is a mailbox on the test server.
type Account struct {
	Addr, User, Password string
	Dovecot              bool
}

// DovecotAddr is the real server's address, or "".
func DovecotAddr() string { return os.Getenv("HELPDESK_TEST_IMAP_ADDR") }

var (
	memOnce sync.Once
	mem     *imapmemserver.Server
	memAddr string
)

// NewAccount returns an empty account of its own for this test.
func NewAccount(t testing.TB) Account {
	t.Helper()
	user := "t" + randomHex()
	if addr := DovecotAddr(); addr != "" {
		return Account{Addr: addr, User: user, Password: Password, Dovecot: true}
	}
	return MemAccount(t, user)
}

// RequireDovecot returns a Dovecot account, or skips (fails under the test
// script or CI) when no Dovecot runs.
func RequireDovecot(t testing.TB) Account {
	t.Helper()
	if DovecotAddr() == "" {
		if coretest.Required() {
			t.Fatal("HELPDESK_TEST_IMAP_ADDR is not set: scripts/test starts Dovecot and sets it")
		}
		t.Skip("no Dovecot: HELPDESK_TEST_IMAP_ADDR is not set (scripts/test starts one)")
	}
	return NewAccount(t)
}

// MemAccount makes an account on the in-memory server.
func MemAccount(t testing.TB, user string) Account {
	memOnce.Do(func() {
		mem = imapmemserver.New()
		srv := imapserver.New(&imapserver.Options{
			NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
				return mem.NewSession(), nil, nil
			},
			Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
			InsecureAuth: true,
			Logger:       log.New(io.Discard, "", 0),
		})
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		memAddr = l.Addr().String()
		go srv.Serve(l)
	})
	u := imapmemserver.NewUser(user, Password)
	if err := u.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(u)
	return Account{Addr: memAddr, User: user, Password: Password}
}

// Dial logs in to the account.
func (a Account) Dial(t testing.TB) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(a.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(a.User, a.Password).Wait(); err != nil {
		t.Fatalf("login %s: %v", a.User, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Append adds a message to a folder, as a mail delivery would.
func (a Account) Append(t testing.TB, c *imapclient.Client, folder string, raw []byte) {
	t.Helper()
	a.AppendAt(t, c, folder, raw, time.Now())
}

// AppendAt adds a message with the given internal (arrival) date.
func (a Account) AppendAt(t testing.TB, c *imapclient.Client, folder string, raw []byte, at time.Time) {
	t.Helper()
	cmd := c.Append(folder, int64(len(raw)), &imap.AppendOptions{Time: at})
	if _, err := cmd.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatalf("append to %s: %v", folder, err)
	}
}

func randomHex() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
