package mailin

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"helpdesk/core"
	"helpdesk/core/coretest"
	"helpdesk/mailin/mailintest"
)

// BenchmarkSpamMix takes in 1,000 spam (GTUBE) and 1,000 ham mails, each
// scanned directly by the private spamd, in the poller's batches, and
// reports what a desk facing that mix does: tickets opened, spam kept,
// acknowledgements and alerts queued, mails to spammers; with the scan
// rate and spamd's own rate (the same mails through spamc's protocol).
//
//	scripts/bench SpamMix
func BenchmarkSpamMix(b *testing.B) {
	addr := mailintest.SpamdAddr(b)
	const n = 1000
	var raws [][]byte
	for i := 0; i < n; i++ {
		raws = append(raws, spamMail(i), []byte(fmt.Sprintf("From: C%d <c%d@example.com>\r\nTo: support@desk.test\r\n"+
			"Subject: Question %d\r\nMessage-ID: <ham-%d@example.com>\r\nDate: %s\r\n\r\nHow do I reset my password? Order %d.\r\n",
			i, i, i, i, time.Now().Format(time.RFC1123Z), i)))
	}
	for iter := 0; iter < b.N; iter++ {
		start := time.Now()
		for _, raw := range raws[:200] {
			if _, err := (Spamd{Addr: addr}).Scan(context.Background(), raw); err != nil {
				b.Fatal(err)
			}
		}
		spamdRate := 200 / time.Since(start).Seconds()

		s := coretest.SeededStore(b)
		in := &Intake{Store: s, Desk: []string{"support@desk.test"}, Log: quiet(), Spam: &SpamCheck{Scanner: Spamd{Addr: addr}}}
		start = time.Now()
		for from := 0; from < len(raws); from += 200 {
			var items []Item
			for j, raw := range raws[from : from+200] {
				items = append(items, Item{UID: uint32(from + j + 1), Raw: raw})
			}
			if _, err := in.DeliverBatch(context.Background(), Source{Mailbox: "support", DefaultTopic: "SEV-C"}, nil, items); err != nil {
				b.Fatal(err)
			}
		}
		rate := float64(len(raws)) / time.Since(start).Seconds()
		tickets, _ := s.ListTickets(context.Background(), core.TicketFilter{Limit: 10 * n})
		spam, _ := s.SpamList(context.Background())
		mails, err := s.ClaimOutbox(context.Background(), 100000, time.Hour, time.Now().Add(time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		count := map[string]int{}
		toSpammers := 0
		for _, m := range mails {
			count[m.Template]++
			if strings.Contains(m.Recipient, "lottery.example") {
				toSpammers++
			}
		}
		b.ReportMetric(float64(len(tickets)), "tickets")
		b.ReportMetric(float64(len(spam)), "spam_kept")
		b.ReportMetric(float64(count[core.TemplateAck]), "acks")
		b.ReportMetric(float64(count[core.TemplateNewTicketAlert]), "alerts")
		b.ReportMetric(float64(toSpammers), "mails_to_spammers")
		b.ReportMetric(rate, "intake_msgs/s")
		b.ReportMetric(spamdRate, "spamd_msgs/s")
	}
}
