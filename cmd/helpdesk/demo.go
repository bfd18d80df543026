package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/mail"
	"os"
	"strings"
	"sync"
	"time"

	"helpdesk/core"
	"helpdesk/core/pglocal"
)

// The demo's people: the seed organisation of osTicket's tutorial.
const (
	demoSupport   = "support@demo.test"
	demoEmergency = "emergency@demo.test"
	demoAdmin     = "admin@demo.test"
	demoGarnet    = "garnet@demo.test"
	demoGreg      = "greg@demo.test"
	demoJane      = "jane@customer.test"
)

// demoConfig is helpdesk.example.toml's organisation on the demo's servers.
func demoConfig(dataDir, dbURL, imapAddr, smtpAddr string) *Config {
	host, port := splitHostPort(imapAddr)
	shost, sport := splitHostPort(smtpAddr)
	cfg := &Config{DataDir: dataDir, DatabaseURL: dbURL, Domain: "demo.test", LogFormat: "text"}
	cfg.SMTP = SMTPConfig{Host: shost, Port: sport, TLS: "none", From: "Demo Support <" + demoSupport + ">"}
	for _, mb := range []struct{ name, addr, topic string }{{"support", demoSupport, "SEV-C"}, {"emergency", demoEmergency, "SEV-A"}} {
		cfg.Mailboxes = append(cfg.Mailboxes, MailboxConfig{Name: mb.name, Address: mb.addr, Host: host, Port: port, TLS: "none",
			User: mb.addr, Password: demoPassword, PollInterval: time.Second, DefaultTopic: mb.topic})
	}
	cfg.Routes = []RouteConfig{{Address: demoEmergency, Topic: "SEV-A"}, {Match: "(?i)cannot pay", Topic: "SEV-B"}}
	cfg.Departments = append(cfg.Departments, struct {
		Name string `toml:"name"`
	}{"Support"})
	cfg.Teams = append(cfg.Teams, struct {
		Name       string `toml:"name"`
		Department string `toml:"department"`
		AutoAssign bool   `toml:"auto_assign"`
	}{Name: "Level 1 Support", Department: "Support"})
	cfg.Agents = []AgentConfig{
		{Email: demoAdmin, Name: "Ada Admin", Role: "admin"},
		{Email: demoGarnet, Name: "Garnet", Role: "agent", Teams: []string{"Level 1 Support"}},
	}
	cfg.SLAPlans = []SLAPlanConfig{
		{Name: "SEV-A", FirstResponse: time.Hour, Resolution: 4 * time.Hour},
		{Name: "SEV-B", FirstResponse: 4 * time.Hour, Resolution: 24 * time.Hour},
		{Name: "SEV-C", FirstResponse: 24 * time.Hour, Resolution: 72 * time.Hour},
	}
	cfg.HelpTopics = []HelpTopicConfig{
		{Name: "SEV-A", SLAPlan: "SEV-A", Priority: "emergency", Department: "Support", Assignee: demoAdmin},
		{Name: "SEV-B", SLAPlan: "SEV-B", Priority: "high", Department: "Support", Team: "Level 1 Support"},
		{Name: "SEV-C", SLAPlan: "SEV-C", Priority: "low", Department: "Support", Team: "Level 1 Support"},
	}
	cfg.defaults()
	return cfg
}

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keep := fs.Bool("keep", false, "stay up after the script, for your own mail client")
	verbose := fs.Bool("v", false, "show the daemon's log")
	if err := fs.Parse(args); err != nil {
		return &exitError{2, err}
	}
	var mu sync.Mutex
	say := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(stdout, format+"\n", a...)
	}
	logOut := io.Discard
	if *verbose {
		logOut = stderr
	}
	log := newLogger(logOut, "text")

	dir, err := os.MkdirTemp("", "helpdesk-demo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	say("helpdesk demo: starting a private PostgreSQL, an IMAP server and an SMTP server on loopback")
	pg, err := pglocal.Start(ctx, dir+"/postgres", log)
	if err != nil {
		return err
	}
	defer pg.Stop()
	world, err := startDemoWorld([]string{demoSupport, demoEmergency, demoAdmin, demoGarnet, demoGreg, demoJane}, say)
	if err != nil {
		return err
	}
	defer world.Close()
	cfg := demoConfig(dir, pg.URL(), world.imapAddr, world.smtpAddr)
	if cfg.HTTPAddr, err = freeLoopback(); err != nil {
		return err
	}
	cfg.StatusURL = "http://" + cfg.HTTPAddr

	daemonCtx, stopDaemon := context.WithCancel(ctx)
	daemonDone := make(chan error, 1)
	go func() { daemonDone <- serve(daemonCtx, cfg, log) }()
	defer func() { stopDaemon(); <-daemonDone }()

	store, err := waitForStore(ctx, pg.URL(), cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	script := &demoScript{ctx: ctx, w: world, s: store, say: say, inboxes: map[string]*inbox{}}
	err = script.run()
	if err != nil {
		say("\nDEMO FAILED: %v", err)
		return &exitError{1, errors.New("the demo did not go as expected")}
	}
	say("\nEvery step happened as expected.")
	if !*keep {
		return nil
	}
	say("\nhelpdesk keeps running. Use any mail client (no TLS, password %q for every account):", demoPassword)
	say("  SMTP (send)  %s   IMAP (read)  %s", world.smtpAddr, world.imapAddr)
	say("  health, metrics and status pages: http://%s (/healthz, /readyz, /metrics; status links are in customer mail)", cfg.HTTPAddr)
	say("  accounts: %s (customer), %s (customer), %s (admin), %s (agent)", demoGreg, demoJane, demoAdmin, demoGarnet)
	say("  mail %s or %s to open a ticket; reply to ticket mail to follow it. Ctrl-C stops.", demoSupport, demoEmergency)
	<-ctx.Done()
	return nil
}

// waitForStore opens the database once the daemon has migrated it.
func waitForStore(ctx context.Context, url string, cfg *Config) (*core.Store, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		s, err := core.Open(ctx, url, core.Options{Domain: cfg.Domain})
		if err == nil {
			if daemonReady(ctx, s) {
				return s, nil
			}
			s.Close()
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the daemon did not come up: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// daemonReady reports whether the daemon has migrated the schema to the end
// (the agents table alone appears with the first migration) and synced
// the organisation.
func daemonReady(ctx context.Context, s *core.Store) bool {
	pending, err := s.PendingMigrations(ctx)
	if err != nil || len(pending) > 0 {
		return false
	}
	agents, err := s.Agents(ctx)
	return err == nil && len(agents) > 0
}

// demoScript plays the tutorial by mail and checks each step.
type demoScript struct {
	ctx     context.Context
	w       *demoWorld
	s       *core.Store
	say     func(string, ...any)
	inboxes map[string]*inbox
	seq     int
}

func (d *demoScript) inbox(addr string) *inbox {
	if d.inboxes[addr] == nil {
		d.inboxes[addr] = &inbox{addr: d.w.imapAddr, user: addr, seen: map[string]bool{}}
	}
	return d.inboxes[addr]
}

// mail sends a message as a person's mail client would.
func (d *demoScript) mail(from, to, subject, inReplyTo, body string) error {
	return d.mailWithFile(from, to, subject, inReplyTo, body, "", nil)
}

// mailWithFile is mail with a file attached (none when name is "").
func (d *demoScript) mailWithFile(from, to, subject, inReplyTo, body, name string, file []byte) error {
	d.seq++
	h := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <demo-%d-%d@demo.test>\r\nDate: %s\r\n",
		from, to, subject, d.seq, time.Now().UnixNano(), time.Now().Format(time.RFC1123Z))
	if inReplyTo != "" {
		h += fmt.Sprintf("In-Reply-To: <%s>\r\nReferences: <%s>\r\n", inReplyTo, inReplyTo)
	}
	text := strings.ReplaceAll(body, "\n", "\r\n") + "\r\n"
	raw := h + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text
	if name != "" {
		raw = h + "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=demo\r\n\r\n--demo\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\n\r\n" + text + "--demo\r\nContent-Type: application/octet-stream\r\n" +
			"Content-Disposition: attachment; filename=\"" + name + "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			base64.StdEncoding.EncodeToString(file) + "\r\n--demo--\r\n"
	}
	envFrom, err := mail.ParseAddress(from)
	if err != nil {
		return err
	}
	return d.w.send(envFrom.Address, to, []byte(raw))
}

// reply answers a mail we received, to its Reply-To, quoting it.
func (d *demoScript) reply(from string, to demoMail, body string) error {
	quoted := "> " + strings.ReplaceAll(strings.TrimSpace(to.Body), "\n", "\n> ")
	return d.mail(from, to.ReplyTo, "Re: "+to.Subject, to.MessageID, body+"\n\nOn a day, Demo Support wrote:\n"+quoted)
}

func (d *demoScript) expect(addr, subj string) (demoMail, error) {
	return d.inbox(addr).wait(d.ctx, subj, 30*time.Second)
}

// until polls a ticket until cond holds.
func (d *demoScript) until(n int64, what string, cond func(*core.Thread) bool) (*core.Thread, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		th, err := d.s.ShowTicket(d.ctx, n)
		if err == nil && cond(th) {
			d.say("  ok    %s", what)
			return th, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("ticket %d: %s did not happen", n, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (d *demoScript) ticketOf(customer string) (int64, error) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		list, err := d.s.ListTickets(d.ctx, core.TicketFilter{})
		if err != nil {
			return 0, err
		}
		for _, t := range list {
			if t.Customer.Email == customer {
				return t.Number, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return 0, fmt.Errorf("no ticket for %s", customer)
}

// run plays the tutorial's steps in order; each checks what it caused.
func (d *demoScript) run() error {
	greg, alert, err := d.gregReports()
	if err != nil {
		return err
	}
	assignment, err := d.adminHandsOver(greg, alert)
	if err != nil {
		return err
	}
	if err := d.garnetAsksForHerQueue(greg); err != nil {
		return err
	}
	if err := d.garnetCloses(greg, assignment); err != nil {
		return err
	}
	jane, err := d.janeRaisedAndAnswered()
	if err != nil {
		return err
	}
	return d.showThreads(greg, jane)
}

// gregReports is step 1: Greg's mail opens an emergency for the admin.
func (d *demoScript) gregReports() (int64, demoMail, error) {
	d.say("\n1. Greg, a registered employee, mails the emergency address: his laptop trackpad stopped working.")
	if err := d.mailWithFile("Greg Employee <"+demoGreg+">", demoEmergency, "Laptop trackpad stopped working", "",
		"My laptop trackpad does not respond at all since this morning. The device list is attached.",
		"devices.txt", []byte("Touchpad: disabled\nKeyboard: ok\n")); err != nil {
		return 0, demoMail{}, err
	}
	greg, err := d.ticketOf(demoGreg)
	if err != nil {
		return 0, demoMail{}, err
	}
	if _, err := d.until(greg, "the ticket is an emergency under SEV-A, assigned to the admin", func(th *core.Thread) bool {
		t := th.Ticket
		return t.HelpTopic == "SEV-A" && t.Priority == core.PriorityEmergency && t.Assignee != nil && t.Assignee.Email == demoAdmin
	}); err != nil {
		return 0, demoMail{}, err
	}
	if _, err := d.expect(demoGreg, core.SubjectTag(greg)); err != nil {
		return 0, demoMail{}, err
	}
	alert, err := d.expect(demoAdmin, "New ticket")
	return greg, alert, err
}

// adminHandsOver is step 2: the admin's commands by mail lower the ticket
// and assign it to Garnet, whose mail carries Greg's file.
func (d *demoScript) adminHandsOver(greg int64, alert demoMail) (demoMail, error) {
	d.say("\n2. The admin finds it is no emergency: lowers it to SEV-C and hands it to Garnet on Level 1 Support.")
	if err := d.reply("Ada Admin <"+demoAdmin+">", alert, "/sla SEV-C\n/priority low\n/assign Garnet\n\n"+
		"This is not an emergency; Garnet from Level 1 Support will take it from here."); err != nil {
		return demoMail{}, err
	}
	if _, err := d.until(greg, "SLA SEV-C, priority low, assigned to Garnet", func(th *core.Thread) bool {
		t := th.Ticket
		return t.SLAPlan == "SEV-C" && t.Priority == core.PriorityLow && t.Assignee != nil && t.Assignee.Email == demoGarnet
	}); err != nil {
		return demoMail{}, err
	}
	assignment, err := d.expect(demoGarnet, "Assigned to you")
	if err != nil {
		return demoMail{}, err
	}
	if len(assignment.Files) != 1 || assignment.Files[0] != "devices.txt" {
		return demoMail{}, fmt.Errorf("demo: Garnet's assignment mail carries %v, want Greg's devices.txt", assignment.Files)
	}
	d.say("  ok    Greg's devices.txt reached Garnet with the assignment")
	return assignment, nil
}

// garnetAsksForHerQueue: /queue by mail lists the ticket, and Greg has the
// admin's explanation.
func (d *demoScript) garnetAsksForHerQueue(greg int64) error {
	tag := core.SubjectTag(greg)
	d.say("\n   Garnet asks for her queue by mail: /queue to the desk address.")
	if err := d.mail("Garnet <"+demoGarnet+">", demoSupport, "queue", "", "/queue"); err != nil {
		return err
	}
	if queue, err := d.expect(demoGarnet, "Your queue"); err != nil {
		return err
	} else if !strings.Contains(queue.Body, tag) {
		return fmt.Errorf("demo: Garnet's queue does not list %s", tag)
	}
	d.say("  ok    Garnet's queue lists %s", tag)
	if m, err := d.expect(demoGreg, tag); err != nil {
		return err
	} else if !strings.Contains(m.Body, "not an emergency") {
		return fmt.Errorf("demo: Greg did not get the admin's explanation")
	}
	return nil
}

// garnetCloses is step 3: her reply closes the ticket and tells Greg the fix.
func (d *demoScript) garnetCloses(greg int64, assignment demoMail) error {
	d.say("\n3. Garnet re-enables the trackpad, documents the fix and closes the ticket.")
	if err := d.reply("Garnet <"+demoGarnet+">", assignment, "/close\nRe-enabled the trackpad in Windows Device Manager."); err != nil {
		return err
	}
	if _, err := d.until(greg, "the ticket is closed", func(th *core.Thread) bool { return th.Ticket.Status == core.StatusClosed }); err != nil {
		return err
	}
	if m, err := d.expect(demoGreg, core.SubjectTag(greg)); err != nil {
		return err
	} else if !strings.Contains(m.Body, "Device Manager") {
		return fmt.Errorf("demo: Greg did not get Garnet's fix")
	}
	closed, err := d.s.ListTickets(d.ctx, core.TicketFilter{Status: core.StatusClosed})
	if err != nil || len(closed) != 1 || closed[0].Number != greg {
		return fmt.Errorf("ticket %d is not listed among closed tickets", greg)
	}
	d.say("  ok    listed among closed tickets")
	return nil
}

// janeRaisedAndAnswered is step 4: Jane's SEV-B ticket, raised to SEV-A
// (earlier due times) and answered by the admin.
func (d *demoScript) janeRaisedAndAnswered() (int64, error) {
	d.say("\n4. Jane, a customer, cannot pay: her portal returns 404 (SEV-B). The admin raises it to SEV-A and answers.")
	if err := d.mail("Jane Customer <"+demoJane+">", demoSupport, "Customer portal returns 404", "",
		"The portal returns 404 and I cannot pay my invoice."); err != nil {
		return 0, err
	}
	jane, err := d.ticketOf(demoJane)
	if err != nil {
		return 0, err
	}
	th, err := d.until(jane, "the ticket is SEV-B", func(th *core.Thread) bool { return th.Ticket.SLAPlan == "SEV-B" })
	if err != nil {
		return 0, err
	}
	sevB := th.Ticket.ResolutionDue
	if _, err := d.expect(demoJane, core.SubjectTag(jane)); err != nil {
		return 0, err
	}
	janeAlert, err := d.expect(demoAdmin, "New ticket")
	if err != nil {
		return 0, err
	}
	if err := d.reply("Ada Admin <"+demoAdmin+">", janeAlert,
		"/sla SEV-A\nWe are on it: the portal is being restored now, and your payment link will work within the hour."); err != nil {
		return 0, err
	}
	if _, err := d.until(jane, "raised to SEV-A with earlier due times", func(th *core.Thread) bool {
		return th.Ticket.SLAPlan == "SEV-A" && th.Ticket.ResolutionDue != nil && sevB != nil && th.Ticket.ResolutionDue.Before(*sevB)
	}); err != nil {
		return 0, err
	}
	if m, err := d.expect(demoJane, core.SubjectTag(jane)); err != nil {
		return 0, err
	} else if !strings.Contains(m.Body, "portal is being restored") {
		return 0, fmt.Errorf("demo: Jane did not get the admin's answer")
	}
	return jane, nil
}

// showThreads prints each ticket's thread as `ticket show` does.
func (d *demoScript) showThreads(numbers ...int64) error {
	for _, n := range numbers {
		th, err := d.s.ShowTicket(d.ctx, n)
		if err != nil {
			return err
		}
		d.say("")
		var b strings.Builder
		printThread(&b, th)
		d.say("%s", strings.TrimRight(b.String(), "\n"))
	}
	return nil
}

// freeLoopback returns a loopback address with a port nothing listens on.
func freeLoopback() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func splitHostPort(addr string) (string, int) {
	host, port, _ := strings.Cut(addr, ":")
	var p int
	fmt.Sscan(port, &p)
	return host, p
}
