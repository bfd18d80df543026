package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"helpdesk/core"
	"helpdesk/mailin"
	"helpdesk/mailout"
)

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	if err := fs.Parse(args); err != nil {
		return &exitError{2, err}
	}
	cfg, err := loadConfigFrom(*cfgPath)
	if err == nil {
		err = cfg.readMailSecrets()
	}
	if err != nil {
		return &exitError{78, err}
	}
	log := newLogger(stderr, cfg.LogFormat)
	for _, w := range cfg.Warnings {
		log.Warn("config", "warning", w)
	}
	return serve(ctx, cfg, log)
}

// serve runs the daemon until ctx ends: pollers, sender, SLA checker, HTTP.
// Shutdown runs in reverse order of start: intake stops first (finishing the
// message in hand), then the checker, then the sender finishes the mail it
// holds and puts back what it claimed but did not send.
func serve(ctx context.Context, cfg *Config, log *slog.Logger) error {
	db, err := openDatabase(ctx, cfg, log, schemaMigrate)
	if err != nil {
		return err
	}
	defer db.Close()
	templates, err := mailout.LoadTemplates(cfg.TemplatesDir)
	if err != nil {
		return fmt.Errorf("load templates: %w", err)
	}
	var senderWG sync.WaitGroup
	senderCtx, stopSender := context.WithCancel(context.WithoutCancel(ctx))
	defer func() { stopSender(); senderWG.Wait() }()
	sender, err := newSender(senderCtx, cfg, db, templates, log.With("worker", "sender"))
	if err != nil {
		return err
	}
	if sender != nil {
		senderWG.Add(1)
		go func() { defer senderWG.Done(); sender.Run(senderCtx) }()
	}

	intake := newIntake(cfg, db, log.With("worker", "intake"))
	h := newHealth()
	if sender != nil {
		h.watchTokens(sender.SMTP.Tokens)
	}
	m := newMetrics(db.Store, intake, sender, h)

	checker, err := scheduleJobs(ctx, cfg, db, m, log)
	if err != nil {
		return err
	}
	checker.Start()
	defer func() { <-checker.Stop().Done() }()

	var background sync.WaitGroup
	for i := range cfg.Mailboxes {
		mb, err := cfg.Mailbox(ctx, db.Store, i)
		if err != nil {
			return &exitError{78, err}
		}
		p := &mailin.Poller{Mailbox: mb, Intake: intake, Log: log.With("worker", "poller"), OnPoll: h.polled}
		h.watch(p.Mailbox.Name, p.Active)
		h.watchTokens(mb.Tokens)
		background.Add(1)
		go func() { defer background.Done(); p.Run(ctx) }()
	}
	if len(cfg.Mailboxes) > 0 {
		background.Add(1)
		go func() {
			defer background.Done()
			watchStalls(ctx, db.Store, h, cfg.StallAfter, log.With("worker", "stall"))
		}()
	}
	if cfg.HTTPAddr != "" {
		srv := httpServer(cfg.HTTPAddr, db.Store, h, m, sender, cfg.StallAfter, templates, log.With("worker", "http"))
		addr, err := listen(srv, log)
		if err != nil {
			return &exitError{78, err}
		}
		log.Info("http listening", "addr", addr)
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
		}()
	}

	if len(cfg.Mailboxes) == 0 {
		log.Warn("no mailboxes configured: helpdesk is running but takes in no mail. " +
			"Copy helpdesk.example.toml to helpdesk.toml, set your IMAP mailboxes, SMTP server and agents, " +
			"check it with `helpdesk check-config helpdesk.toml`, and restart.")
	}
	log.Info("helpdesk running", "version", buildVersion(), "mailboxes", len(cfg.Mailboxes), "smtp", cfg.SMTP.Host != "")
	<-ctx.Done()
	log.Info("shutting down")
	background.Wait()
	return nil
}

// newSender builds the outbox sender (nil when no SMTP server is set); its
// token refreshes run within ctx, which outlives the daemon's so the sender
// can finish the mail it holds.
func newSender(ctx context.Context, cfg *Config, db *database, templates *mailout.Templates, log *slog.Logger) (*mailout.Sender, error) {
	if cfg.SMTP.Host == "" {
		return nil, nil
	}
	signer, err := cfg.DKIMSigner()
	if err != nil {
		return nil, &exitError{78, err}
	}
	smtpCfg, err := cfg.SMTPSettings(ctx, db.Store)
	if err != nil {
		return nil, &exitError{78, err}
	}
	return &mailout.Sender{
		Store: db.Store, Templates: templates, SMTP: smtpCfg, From: cfg.FromAddress(),
		Conns: cfg.SMTP.Connections, Log: log, DKIM: signer, Lease: cfg.SMTP.Lease,
		OutageAlert: cfg.SMTP.OutageAlert,
	}, nil
}

// scheduleJobs sets up the periodic work: the SLA check, the retention purge
// (when a policy is set) and the agents' morning queue digest.
func scheduleJobs(ctx context.Context, cfg *Config, db *database, m *metrics, log *slog.Logger) (*cron.Cron, error) {
	cl := cronLogger{log.With("worker", "cron")}
	checker := cron.New(cron.WithLogger(cl), cron.WithChain(cron.Recover(cl), cron.SkipIfStillRunning(cl)))
	if _, err := checker.AddFunc(cfg.SLA.Schedule, func() {
		start := time.Now()
		res, err := db.CheckSLA(ctx, start)
		m.observeSLA(time.Since(start), res)
		if err != nil {
			log.Error("sla check", "err", err)
		} else if res.Tickets > 0 {
			log.Info("sla check", "tickets", res.Tickets, "steps", res.Steps, "took", time.Since(start))
		}
	}); err != nil {
		return nil, &exitError{78, fmt.Errorf("sla.schedule %q: %w", cfg.SLA.Schedule, err)}
	}
	if cfg.RetentionPolicy() != (core.Retention{}) {
		if _, err := checker.AddFunc("@every 1h", func() {
			if n, err := purgeAll(ctx, db.Store, cfg.RetentionPolicy(), false, time.Now()); err != nil {
				log.Error("retention purge", "err", err)
			} else if n != (core.PurgeCounts{}) {
				log.Info("retention purge", "raw", n.Raw, "sent_mail", n.SentMail, "quarantine", n.Quarantine)
			}
		}); err != nil {
			return nil, fmt.Errorf("schedule retention purge: %w", err)
		}
	}
	if cfg.SLA.Report != "off" {
		if _, err := checker.AddFunc(cfg.SLA.Report, func() {
			if sent, err := db.SendWeeklyReport(ctx, time.Now()); err != nil {
				log.Error("weekly report", "err", err)
			} else if sent {
				log.Info("weekly report mailed to the admins")
			}
		}); err != nil {
			return nil, &exitError{78, fmt.Errorf("sla.report %q: %w", cfg.SLA.Report, err)}
		}
	}
	if cfg.SLA.QueueDigest != "off" {
		if _, err := checker.AddFunc(cfg.SLA.QueueDigest, func() {
			now := time.Now()
			if n, err := db.SendQueueDigests(ctx, now, now); err != nil {
				log.Error("queue digest", "err", err)
			} else if n > 0 {
				log.Info("queue digest", "agents", n)
			}
		}); err != nil {
			return nil, &exitError{78, fmt.Errorf("sla.queue_digest %q: %w", cfg.SLA.QueueDigest, err)}
		}
	}
	return checker, nil
}

// cronLogger logs robfig/cron's messages through slog, like everything else.
type cronLogger struct{ log *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.log.Debug(msg, kv...) }

func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.log.Error(msg, append(kv, "err", err)...)
}
