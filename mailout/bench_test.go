package mailout_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
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
		plain := mailouttest.PlainMail{From: "support@desk.test", To: []string{"customer@example.com"}, Msg: got[0].Data}
		sinkRate := mailouttest.PlainRate(b, sink.Addr, snd.Conns, n, func(int) mailouttest.PlainMail { return plain })
		b.ReportMetric(rate, "mails/s")
		b.ReportMetric(sinkRate, "sink_plain_mails/s")
		b.ReportMetric(rate/sinkRate, "send/sink")
	}
}

func benchID(j int) string   { return "bench-" + strconv.Itoa(j) + "@example.com" }
func benchAddr(j int) string { return "customer" + strconv.Itoa(j) + "@example.com" }
