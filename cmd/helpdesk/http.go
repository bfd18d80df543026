package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"helpdesk/core"
	"helpdesk/core/mailauth"
	"helpdesk/mailout"
	"helpdesk/templates"
)

// health tracks each mailbox's last successful poll, for /readyz, the
// metrics and the stall alert.
type health struct {
	mu        sync.Mutex
	lastOK    map[string]time.Time
	lastErr   map[string]string
	started   time.Time
	active    map[string]func() bool // is this process the mailbox's poller?
	stallSeen map[string]bool
	tokens    []*mailauth.Tokens // OAuth2 grants in use, whose failure needs a person
}

// watchTokens adds an OAuth2 grant to /readyz (nil: a password, nothing to watch).
func (h *health) watchTokens(t *mailauth.Tokens) {
	if t == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tokens = append(h.tokens, t)
}

// tokenProblems are the grants that stopped working, each with its fix.
func (h *health) tokenProblems() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, t := range h.tokens {
		if f := t.Failure(); f != nil {
			out = append(out, f.Error())
		}
	}
	return out
}

func newHealth() *health {
	return &health{lastOK: map[string]time.Time{}, lastErr: map[string]string{}, started: time.Now(),
		active: map[string]func() bool{}, stallSeen: map[string]bool{}}
}

// watch adds a mailbox; active says whether this process polls it now.
func (h *health) watch(mailbox string, active func() bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.active[mailbox] = active
}

func (h *health) polled(mailbox string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		h.lastOK[mailbox] = time.Now()
		delete(h.lastErr, mailbox)
	} else {
		h.lastErr[mailbox] = err.Error()
	}
}

// stale returns the mailboxes this process polls whose last success is older
// than max, with when that was (the start, if never) and the last error.
func (h *health) stale(max time.Duration, now time.Time) map[string][2]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string][2]string{}
	for m, active := range h.active {
		if !active() {
			continue // another daemon polls it
		}
		last, ok := h.lastOK[m]
		if !ok {
			last = h.started
		}
		if now.Sub(last) > max {
			out[m] = [2]string{last.Format(time.RFC3339), h.lastErr[m]}
		}
	}
	return out
}

// watchStalls alerts the admins once when a mailbox stops polling for longer
// than after, and once when it recovers.
func watchStalls(ctx context.Context, db *core.Store, h *health, after time.Duration, log *slog.Logger) {
	tick := time.NewTicker(min(after/4, 30*time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		h.alertStalls(ctx, db, after, time.Now(), log)
	}
}

// alertStalls tells the admins of each stall or recovery not yet told. A
// change is marked only once its alert is queued: a failed one (the
// database away) is tried again at the next tick.
func (h *health) alertStalls(ctx context.Context, db *core.Store, after time.Duration, now time.Time, log *slog.Logger) {
	for _, c := range h.stallChanges(after, now) {
		sent, err := db.AlertStall(ctx, c.mailbox, c.recovered, c.since, c.reason, now)
		if err != nil {
			log.Error("stall alert", "mailbox", c.mailbox, "err", err)
			continue
		}
		if sent {
			log.Warn("mailbox stall alert sent", "mailbox", c.mailbox, "recovered", c.recovered)
		}
		h.mu.Lock()
		h.stallSeen[c.mailbox] = !c.recovered
		h.mu.Unlock()
	}
}

// stallChange is a mailbox that stalled, or recovered, since the admins
// were last told.
type stallChange struct {
	mailbox   string
	recovered bool
	since     time.Time
	reason    string
}

func (h *health) stallChanges(after time.Duration, now time.Time) []stallChange {
	stale := h.stale(after, now)
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []stallChange
	for m := range h.active {
		info, isStale := stale[m]
		switch {
		case isStale && !h.stallSeen[m]:
			since, _ := time.Parse(time.RFC3339, info[0])
			out = append(out, stallChange{mailbox: m, since: since, reason: info[1]})
		case !isStale && h.stallSeen[m]:
			out = append(out, stallChange{mailbox: m, recovered: true, since: now})
		}
	}
	return out
}

// httpServer serves /healthz, /readyz, /metrics and the customers' status pages.
func httpServer(addr string, db *core.Store, h *health, m *metrics, sender *mailout.Sender, stallAfter time.Duration, tpl *mailout.Templates, log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		var problems []string
		if err := db.Ping(ctx); err != nil {
			problems = append(problems, "database: "+err.Error())
		}
		problems = append(problems, h.tokenProblems()...)
		for mb, info := range h.stale(stallAfter, time.Now()) {
			problems = append(problems, fmt.Sprintf("mailbox %s: no successful poll since %s %s", mb, info[0], info[1]))
		}
		if sender != nil {
			if since, reason, down := sender.Unreachable(); down && time.Since(since) >= sender.OutageAlert {
				problems = append(problems, fmt.Sprintf("smtp: unreachable since %s: %s", since.Format(time.RFC3339), reason))
			}
		}
		if len(problems) > 0 {
			http.Error(w, strings.Join(problems, "\n"), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /status/{token}", func(w http.ResponseWriter, r *http.Request) { statusPage(w, r, db, log) })
	mux.HandleFunc("GET /file/{token}", func(w http.ResponseWriter, r *http.Request) { fileDownload(w, r, db, log) })
	mux.HandleFunc("GET /report/{token}", func(w http.ResponseWriter, r *http.Request) { dashboard(w, r, db, tpl, log) })
	return &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
}

// lockDown sets what every page behind a signed link needs: a content
// security policy (no scripts, nothing fetched) and no Referer, which would
// carry the link's token to another site.
func lockDown(w http.ResponseWriter, csp string) {
	w.Header().Set("Content-Security-Policy", csp)
	w.Header().Set("Referrer-Policy", "no-referrer")
}

// dashboard shows the weekly report a signed link in the report mail names:
// the mail's own HTML, with its charts as inline images. No scripts, no
// accounts; the link expires.
func dashboard(w http.ResponseWriter, r *http.Request, db *core.Store, tpl *mailout.Templates, log *slog.Logger) {
	lockDown(w, "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	end, ok := db.ParseReportToken(r.PathValue("token"), time.Now())
	if !ok {
		http.Error(w, "This link is not valid, or has expired. `helpdesk report` shows the figures at any time.", http.StatusForbidden)
		return
	}
	page, err := dashboardHTML(r.Context(), db, tpl, end)
	if err != nil {
		log.Error("dashboard", "week_end", end, "err", err)
		http.Error(w, "The dashboard is unavailable right now.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := templates.DashboardPage.Execute(w, page); err != nil {
		log.Error("render dashboard", "err", err)
	}
}

// dashboardHTML is the report mail's HTML for the week ending at end, its
// cid: chart references replaced by the charts as data: URLs.
func dashboardHTML(ctx context.Context, db *core.Store, tpl *mailout.Templates, end time.Time) (template.HTML, error) {
	m, err := db.WeeklyReport(ctx, end)
	if err != nil {
		return "", err
	}
	m.DashboardURL = "" // this is it
	rendered, err := tpl.Render(core.TemplateReport, core.MailData{Report: m})
	if err != nil {
		return "", err
	}
	charts, err := mailout.ReportCharts(m)
	if err != nil {
		return "", err
	}
	body := rendered.HTML
	for _, c := range charts {
		body = strings.ReplaceAll(body, `src="cid:`+c.Name+`"`, `src="data:image/png;base64,`+base64.StdEncoding.EncodeToString(c.PNG)+`"`)
	}
	// Rendered by html/template from the report's figures: already escaped.
	return template.HTML(body), nil
}

func statusPage(w http.ResponseWriter, r *http.Request, db *core.Store, log *slog.Logger) {
	lockDown(w, "default-src 'none'; style-src 'unsafe-inline'")
	number, ok := db.ParseStatusToken(r.PathValue("token"), time.Now())
	if !ok {
		http.Error(w, "This link is not valid, or has expired. Reply to any of our mails about your ticket to get a fresh one.", http.StatusForbidden)
		return
	}
	th, err := db.PublicThread(r.Context(), number)
	if errors.Is(err, core.ErrNotFound) {
		http.Error(w, "No such ticket.", http.StatusNotFound)
		return
	}
	if err != nil {
		log.Error("status page", "ticket", number, "err", err)
		http.Error(w, "The status page is unavailable right now.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := templates.StatusPage.Execute(w, statusView{th}); err != nil {
		log.Error("render status page", "ticket", number, "err", err)
	}
}

// statusView adds wording for events to a public thread.
type statusView struct{ *core.Thread }

// EventText describes a public event in words a customer understands.
func (v statusView) EventText(e core.Entry) string {
	switch e.Event {
	case core.EventCreated:
		return "Ticket opened"
	case core.EventResolved:
		return "Resolved"
	case core.EventClosed:
		return "Closed"
	case core.EventReopened:
		return "Reopened"
	}
	return fmt.Sprintf("Status changed to %v", e.Data["to"])
}

// listen starts srv on its address and returns the address it got.
func listen(srv *http.Server, log *slog.Logger) (string, error) {
	l, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return "", fmt.Errorf("http: %w", err)
	}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "err", err)
		}
	}()
	return l.Addr().String(), nil
}

// fileDownload serves a customer's file to an agent through the signed,
// expiring link their mail carried when the file was too large to attach.
func fileDownload(w http.ResponseWriter, r *http.Request, db *core.Store, log *slog.Logger) {
	lockDown(w, "default-src 'none'; sandbox")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	id, ok := db.ParseFileToken(r.PathValue("token"), time.Now())
	if !ok {
		http.Error(w, "This link is not valid or has expired.", http.StatusNotFound)
		return
	}
	f, err := db.File(r.Context(), id)
	if err != nil {
		log.Error("file download", "attachment", id, "err", err)
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	data, ok := fileData(f)
	if !ok {
		http.Error(w, "the file could not be read from the stored message", http.StatusNotFound)
		return
	}
	// Always a download, never rendered: a customer's HTML must not run on
	// our origin.
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": f.Filename}))
	w.Write(data)
}
