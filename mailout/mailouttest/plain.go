package mailouttest

import (
	"net/smtp"
	"sync"
	"testing"
	"time"
)

// PlainMail is one message for PlainRate: its envelope and its bytes.
type PlainMail struct {
	From string
	To   []string
	Msg  []byte
}

// PlainRate sends k mails to the SMTP server at addr from a plain client
// (net/smtp: one transaction after another, no RSET between them, as
// helpdesk's sender does) over conns connections, mail i over connection
// i mod conns, and returns the rate: the server's own limit that the
// benchmarks measure the sender by.
func PlainRate(t testing.TB, addr string, conns, k int, mail func(i int) PlainMail) float64 {
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := smtp.Dial(addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer cl.Quit()
			for i := c; i < k; i += conns {
				if err := sendPlain(cl, mail(i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(k) / time.Since(start).Seconds()
}

func sendPlain(cl *smtp.Client, m PlainMail) error {
	if err := cl.Mail(m.From); err != nil {
		return err
	}
	for _, to := range m.To {
		if err := cl.Rcpt(to); err != nil {
			return err
		}
	}
	w, err := cl.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(m.Msg); err != nil {
		return err
	}
	return w.Close()
}
