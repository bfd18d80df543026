package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"helpdesk/core"
	"helpdesk/mailin"
	"helpdesk/mailout"
)

// metrics is the daemon's Prometheus registry. Counters kept by mailin,
// mailout and core are read at scrape time, so those packages need not know
// Prometheus.
type metrics struct {
	registry    *prometheus.Registry
	slaTick     prometheus.Histogram
	escalations *prometheus.CounterVec
}

func newMetrics(db *core.Store, intake *mailin.Intake, sender *mailout.Sender, h *health) *metrics {
	m := &metrics{registry: prometheus.NewRegistry()}
	m.slaTick = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "helpdesk_sla_tick_seconds", Help: "Duration of one SLA checker tick.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
	})
	m.escalations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "helpdesk_escalations_total", Help: "SLA ladder steps fired, by action.",
	}, []string{"step"})
	m.registry.MustRegister(m.slaTick, m.escalations, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.registry.MustRegister(&scrapeCollector{db: db, intake: intake, sender: sender, health: h})
	return m
}

func (m *metrics) observeSLA(d time.Duration, res core.SLAResult) {
	m.slaTick.Observe(d.Seconds())
	for step, n := range res.Steps {
		m.escalations.WithLabelValues(step).Add(float64(n))
	}
}

var (
	descIngested    = prometheus.NewDesc("helpdesk_messages_ingested_total", "Messages taken in, by class or outcome.", []string{"class"}, nil)
	descLastPoll    = prometheus.NewDesc("helpdesk_mailbox_last_success_timestamp_seconds", "Last successful poll of a mailbox.", []string{"mailbox"}, nil)
	descPollLag     = prometheus.NewDesc("helpdesk_mailbox_poll_lag_seconds", "Seconds since the last successful poll of a mailbox.", []string{"mailbox"}, nil)
	descQuarantined = prometheus.NewDesc("helpdesk_quarantined_messages", "Messages in quarantine, not yet released.", nil, nil)
	descOutbox      = prometheus.NewDesc("helpdesk_outbox_depth", "Mails waiting in the outbox.", nil, nil)
	descOutboxAge   = prometheus.NewDesc("helpdesk_outbox_oldest_age_seconds", "Age of the oldest mail waiting in the outbox.", nil, nil)
	descSends       = prometheus.NewDesc("helpdesk_sends_total", "Send attempts, by result.", []string{"result"}, nil)
	descBrakes      = prometheus.NewDesc("helpdesk_loop_brake_trips_total", "Automatic mails suppressed by the budget.", nil, nil)
	descSMTPDown    = prometheus.NewDesc("helpdesk_smtp_unreachable_seconds", "Seconds the SMTP server has been unreachable (0 while it answers).", nil, nil)
)

// scrapeCollector reads the current figures when Prometheus scrapes.
type scrapeCollector struct {
	db     *core.Store
	intake *mailin.Intake
	sender *mailout.Sender
	health *health
}

func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descIngested, descLastPoll, descPollLag, descQuarantined, descOutbox, descOutboxAge, descSends, descBrakes, descSMTPDown} {
		ch <- d
	}
}

func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	for class, n := range c.intake.Counts() {
		ch <- prometheus.MustNewConstMetric(descIngested, prometheus.CounterValue, float64(n), class)
	}
	now := time.Now()
	c.health.mu.Lock()
	for mb := range c.health.active {
		last, ok := c.health.lastOK[mb]
		if !ok {
			last = c.health.started
		}
		ch <- prometheus.MustNewConstMetric(descLastPoll, prometheus.GaugeValue, float64(last.Unix()), mb)
		ch <- prometheus.MustNewConstMetric(descPollLag, prometheus.GaugeValue, now.Sub(last).Seconds(), mb)
	}
	c.health.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n, err := c.db.QuarantinePending(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(descQuarantined, prometheus.GaugeValue, float64(n))
	}
	if st, err := c.db.OutboxStats(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(descOutbox, prometheus.GaugeValue, float64(st.Pending))
		age := 0.0
		if st.OldestPending != nil {
			age = now.Sub(*st.OldestPending).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(descOutboxAge, prometheus.GaugeValue, age)
	}
	if c.sender != nil {
		sent, retried, failed := c.sender.Results()
		ch <- prometheus.MustNewConstMetric(descSends, prometheus.CounterValue, float64(sent), "sent")
		ch <- prometheus.MustNewConstMetric(descSends, prometheus.CounterValue, float64(retried), "retry")
		ch <- prometheus.MustNewConstMetric(descSends, prometheus.CounterValue, float64(failed), "failed")
		down := 0.0
		if since, _, ok := c.sender.Unreachable(); ok {
			down = now.Sub(since).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(descSMTPDown, prometheus.GaugeValue, down)
	}
	ch <- prometheus.MustNewConstMetric(descBrakes, prometheus.CounterValue, float64(c.db.SuppressedByBudget()))
}
