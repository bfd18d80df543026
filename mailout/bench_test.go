package mailout_test

import (
	"context"
	"io"
	"log/slog"
	"net/smtp"
	"strconv"
	"sync"
	"testing"
	"time"

	"helpdesk/core"
	"helpdesk/core/coretest"
	"helpdesk/mailout"
	"helpdesk/mailout/mailouttest"
)

// BenchmarkSend measures mails per second from the PostgreSQL outbox to the
// in-process SMTP sink, through a pool of SMTP connections, and the sink's
// own rate for the same mail from a plain client over as many connections.
//
//	scripts/bench Send
func BenchmarkSend(b *testing.B) {
	const n = 5000
	for i := 0; i < b.N; i++ {
		s := coretest.SeededStore(b)
		sink := mailouttest.Start(b)
		// n acknowledgements: one ticket each, queued through the real path.
		ctx := context.Background()
		for j := 0; j < n; j++ {
			if _, err := coretest.Ingest(ctx, s, &core.Inbound{Mailbox: "support", MessageID: benchID(j), Class: core.ClassHuman,
				From: core.Address{Email: benchAddr(j)}, Subject: "Bench", Text: "x", Raw: []byte(benchID(j))}, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
		st, _ := s.OutboxStats(ctx)
		tpl, err := mailout.LoadTemplates("")
		if err != nil {
			b.Fatal(err)
		}
		snd := &mailout.Sender{Store: s, Templates: tpl, SMTP: mailout.SMTPConfig{Addr: sink.Addr, TLS: mailout.TLSNone},
			From: core.Address{Name: "Support", Email: "support@desk.test"}, Conns: 8, Interval: 10 * time.Millisecond,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		start := time.Now()
		go func() { snd.Run(runCtx); close(done) }()
		got := sink.WaitFor(int(st.Pending), 5*time.Minute)
		elapsed := time.Since(start)
		cancel()
		<-done
		if len(got) != int(st.Pending) {
			b.Fatalf("sent %d of %d", len(got), st.Pending)
		}
		rate := float64(len(got)) / elapsed.Seconds()
		sinkRate := plainRate(b, sink.Addr, got[0].Data, snd.Conns, n)
		b.ReportMetric(rate, "mails/s")
		b.ReportMetric(sinkRate, "sink_plain_mails/s")
		b.ReportMetric(rate/sinkRate, "send/sink")
	}
}

// plainRate is the sink's own rate for k copies of msg from a plain client
// (net/smtp) over conns connections: the limit the sender is measured by.
func plainRate(b *testing.B, addr string, msg []byte, conns, k int) float64 {
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := smtp.Dial(addr)
			if err != nil {
				b.Error(err)
				return
			}
			defer cl.Quit()
			for i := c; i < k; i += conns {
				if err := sendPlain(cl, msg); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(k) / time.Since(start).Seconds()
}

func sendPlain(cl *smtp.Client, msg []byte) error {
	if err := cl.Mail("support@desk.test"); err != nil {
		return err
	}
	if err := cl.Rcpt("customer@example.com"); err != nil {
		return err
	}
	w, err := cl.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	return w.Close()
}

func benchID(j int) string   { return "bench-" + strconv.Itoa(j) + "@example.com" }
func benchAddr(j int) string { return "customer" + strconv.Itoa(j) + "@example.com" }
