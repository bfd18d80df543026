package mailin

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"helpdesk/core/coretest"
	"helpdesk/mailin/mailintest"
)

// cutProxy relays TCP to an IMAP server and can play a server restart:
// cut drops every connection and refuses new ones until restore.
type cutProxy struct {
	addr, target string
	mu           sync.Mutex
	l            net.Listener
	conns        []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	p := &cutProxy{target: target}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = l.Addr().String()
	p.serve(l)
	t.Cleanup(p.cut)
	return p
}

func (p *cutProxy) serve(l net.Listener) {
	p.mu.Lock()
	p.l = l
	p.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *cutProxy) restore(t *testing.T) {
	l, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.serve(l)
}

// The IMAP server restarts five times, a second each; after every restart
// the poller is back within seconds, because a session that worked resets
// the reconnect backoff (it used to keep doubling towards two minutes).
func TestPollerReconnectsPromptlyAfterEachRestart(t *testing.T) {
	s := coretest.SeededStore(t)
	acct := mailintest.NewAccount(t)
	proxy := newCutProxy(t, acct.Addr)
	c := acct.Dial(t)
	via := acct
	via.Addr = proxy.addr
	stop := runPoller(t, s, via, "INBOX")
	defer stop()
	now := time.Now()
	acct.Append(t, c, "INBOX", testMail(0, now))
	waitTickets(t, s, 1)
	var worst time.Duration
	for i := 1; i <= 5; i++ {
		proxy.cut()
		time.Sleep(time.Second)
		proxy.restore(t)
		back := time.Now()
		acct.Append(t, c, "INBOX", testMail(i, now))
		if got := len(waitTickets(t, s, i+1)); got != i+1 {
			t.Fatalf("restart %d: %d tickets, want %d", i, got, i+1)
		}
		worst = max(worst, time.Since(back))
	}
	t.Logf("slowest reconnect after a 1 s restart: %v", worst.Round(10*time.Millisecond))
	if worst > 2*reconnectMax/3 {
		t.Errorf("intake lagged %v behind a restarted server", worst)
	}
}
