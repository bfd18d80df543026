package main

import (
	"context"
	"fmt"
	"net/mail"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"helpdesk/core"
	"helpdesk/core/mailauth"
	"helpdesk/mailin"
	"helpdesk/mailout"
)

// Directory is the organisation part of the config, for core.
func (c *Config) Directory() core.Directory {
	var d core.Directory
	for _, x := range c.Departments {
		d.Departments = append(d.Departments, core.Department{Name: x.Name})
	}
	for _, x := range c.Teams {
		d.Teams = append(d.Teams, core.Team{Name: x.Name, Department: x.Department, AutoAssign: x.AutoAssign})
	}
	for _, x := range c.Agents {
		d.Agents = append(d.Agents, core.Agent{Email: strings.ToLower(x.Email), Name: x.Name, Role: core.Role(x.Role), Teams: x.Teams, Away: x.Away,
			NoDigest: x.QueueDigest != nil && !*x.QueueDigest})
	}
	for _, x := range c.SLAPlans {
		pol, _ := x.policy() // validated
		d.SLAPlans = append(d.SLAPlans, core.SLAPlan{Name: x.Name, FirstResponse: x.FirstResponse, Resolution: x.Resolution, Policy: pol})
	}
	for _, x := range c.HelpTopics {
		p, _ := core.ParsePriority(x.Priority)
		d.HelpTopics = append(d.HelpTopics, core.HelpTopic{Name: x.Name, SLAPlan: x.SLAPlan, Priority: p,
			Department: x.Department, Team: x.Team, Assignee: x.Assignee})
	}
	return d
}

// DeskAddresses are our own addresses: every mailbox's and the sender's.
func (c *Config) DeskAddresses() []string {
	var out []string
	add := func(s string) {
		if a, err := mail.ParseAddress(s); err == nil {
			out = append(out, strings.ToLower(a.Address))
		}
	}
	add(c.SMTP.From)
	for _, m := range c.Mailboxes {
		add(m.Address)
	}
	for _, r := range c.Routes {
		add(r.Address)
	}
	return out
}

// FromAddress is the desk's sender address.
func (c *Config) FromAddress() core.Address {
	a, err := mail.ParseAddress(c.SMTP.From)
	if err != nil {
		return core.Address{Name: "Support", Email: "support@" + c.Domain}
	}
	return core.Address{Name: a.Name, Email: strings.ToLower(a.Address)}
}

// Senders is the From of each mailbox's tickets' mail: the mailbox's own
// address, with its from_name or else the desk's name.
func (c *Config) Senders() map[string]core.Address {
	desk := c.FromAddress()
	out := map[string]core.Address{}
	for _, m := range c.Mailboxes {
		if m.Address == "" {
			continue
		}
		name := m.FromName
		if name == "" {
			name = desk.Name
		}
		out[m.Name] = core.Address{Name: name, Email: strings.ToLower(m.Address)}
	}
	return out
}

// IntakeRoutes turns the routes into mailin's form.
func (c *Config) IntakeRoutes() []mailin.Route {
	var out []mailin.Route
	for _, r := range c.Routes {
		mr := mailin.Route{Address: strings.ToLower(r.Address), Topic: r.Topic}
		if r.Match != "" {
			mr.Match = regexp.MustCompile(r.Match) // validated
		}
		out = append(out, mr)
	}
	return out
}

// IntakeLimits turns the limits into mailin's form, with defaults.
func (c *Config) IntakeLimits() mailin.Limits {
	l := mailin.DefaultLimits
	if c.Limits.MaxMessageBytes > 0 {
		l.MaxBytes = c.Limits.MaxMessageBytes
	}
	if c.Limits.MaxHeaderBytes > 0 {
		l.MaxHeaderBytes = c.Limits.MaxHeaderBytes
	}
	if c.Limits.MaxDepth > 0 {
		l.MaxDepth = c.Limits.MaxDepth
	}
	if c.Limits.MaxParts > 0 {
		l.MaxParts = c.Limits.MaxParts
	}
	return l
}

// Mailbox returns the IMAP settings of mailbox i in mailin's form, with
// its token source when it signs in with OAuth2 (refreshing within ctx).
func (c *Config) Mailbox(ctx context.Context, store *core.Store, i int) (mailin.Mailbox, error) {
	m := c.Mailboxes[i]
	mb := mailin.Mailbox{
		Name: m.Name, Addr: fmt.Sprintf("%s:%d", m.Host, m.Port), TLS: m.TLS, User: m.User, Password: m.Password,
		Folder: m.Folder, PollInterval: m.PollInterval, DefaultTopic: m.DefaultTopic, MoveTo: m.MoveTo,
		InsecureSkipVerify: m.Insecure, CAFile: c.file(m.CAFile),
	}
	if m.OAuth != nil {
		tokens, err := mailauth.NewTokens(ctx, store, m.Name, m.User, c.oauth(m.OAuth, mailauth.IMAP))
		if err != nil {
			return mb, err
		}
		mb.Tokens = tokens
	}
	return mb, nil
}

// SMTPSettings returns the SMTP settings in mailout's form.
func (c *Config) SMTPSettings(ctx context.Context, store *core.Store) (mailout.SMTPConfig, error) {
	cfg := mailout.SMTPConfig{
		Addr: fmt.Sprintf("%s:%d", c.SMTP.Host, c.SMTP.Port), TLS: c.SMTP.TLS, User: c.SMTP.User,
		Password: c.SMTP.Password, Timeout: c.SMTP.Timeout, InsecureSkipVerify: c.SMTP.Insecure, CAFile: c.file(c.SMTP.CAFile),
	}
	if c.SMTP.OAuth != nil {
		tokens, err := mailauth.NewTokens(ctx, store, "", c.SMTP.User, c.oauth(c.SMTP.OAuth, mailauth.SMTP))
		if err != nil {
			return cfg, err
		}
		cfg.Tokens = tokens
	}
	return cfg, nil
}

// oauth is an [oauth] block in mailauth's form, the provider's defaults
// for service filled in and its files found from the config's directory.
func (c *Config) oauth(o *OAuthConfig, service string) mailauth.OAuth {
	return mailauth.OAuth{
		Provider: o.Provider, Grant: o.Grant, Tenant: o.Tenant, ClientID: o.ClientID, ClientSecret: o.ClientSecret,
		CertificateFile: c.file(o.CertificateFile), KeyFile: c.file(o.KeyFile), ServiceAccountFile: c.file(o.ServiceAccountFile),
		Scopes: o.Scopes, AuthURL: o.AuthURL, TokenURL: o.TokenURL, DeviceURL: o.DeviceURL, CAFile: c.file(o.CAFile),
	}.Resolved(service)
}

// file finds a file named in the config relative to the config's directory.
func (c *Config) file(name string) string {
	if name == "" || filepath.IsAbs(name) || c.path == "" {
		return name
	}
	return filepath.Join(filepath.Dir(c.path), name)
}

// StoreOptions are the core options the config sets.
func (c *Config) StoreOptions() core.Options {
	o := core.Options{Domain: c.Domain, Secret: []byte(c.Secret), ReopenWindow: c.Limits.ReopenWindow, StatusBaseURL: c.StatusURL,
		Budget: core.DefaultBudget, TokenLifetime: c.TokenLifetime, AgentAuth: core.AgentAuth(c.AgentAuth),
		AttachLimit: c.Limits.AttachToAgentsBytes, Senders: c.Senders()}
	for _, set := range []struct {
		from int
		to   *int
	}{{c.Limits.AutoMailPerRecipient, &o.Budget.PerRecipient}, {c.Limits.AutoMailPerTicket, &o.Budget.PerTicket},
		{c.Limits.AlertsPerSender, &o.Budget.AlertsPerSender}} {
		if set.from > 0 {
			*set.to = set.from
		}
	}
	for _, set := range []struct {
		from time.Duration
		to   *time.Duration
	}{{c.Limits.AutoMailWindow, &o.Budget.Window}, {c.Limits.AlertWindow, &o.Budget.AlertWindow}} {
		if set.from > 0 {
			*set.to = set.from
		}
	}
	if c.Spam.TicketsPerSender != nil {
		o.Budget.TicketsPerSender = *c.Spam.TicketsPerSender
	}
	o.Budget.TicketsPerDomain = c.Spam.TicketsPerDomain
	if c.Limits.AckInterval != nil {
		o.Budget.AckInterval = *c.Limits.AckInterval // "0s" turns the rule off
	}
	return o
}

// DKIMSigner loads the DKIM key, if one is configured.
func (c *Config) DKIMSigner() (*mailout.DKIM, error) {
	if c.SMTP.DKIMKeyFile == "" {
		return nil, nil
	}
	domain := c.SMTP.DKIMDomain
	if domain == "" {
		domain = c.Domain
	}
	return mailout.LoadDKIM(domain, c.SMTP.DKIMSelector, c.SMTP.DKIMKeyFile)
}

// Source describes mail arriving for a named mailbox (its default topic
// applies), for pipe delivery and explain.
// CheckMailbox refuses a mailbox name the config does not know, when it
// names any: a typo in an MTA alias or a command must not file mail under
// a mailbox nobody configured.
func (c *Config) CheckMailbox(name string) error {
	if len(c.Mailboxes) == 0 {
		return nil // pipe-only desks name their mailboxes freely
	}
	var names []string
	for _, m := range c.Mailboxes {
		if m.Name == name {
			return nil
		}
		names = append(names, m.Name)
	}
	return fmt.Errorf("no mailbox named %q in the config (it has: %s)", name, strings.Join(names, ", "))
}

func (c *Config) Source(mailbox string) mailin.Source {
	src := mailin.Source{Mailbox: mailbox}
	for _, m := range c.Mailboxes {
		if m.Name == mailbox {
			src.DefaultTopic = m.DefaultTopic
		}
	}
	return src
}

// SpamCheck is the spam settings in mailin's form; nil when none are set.
func (c *Config) SpamCheck() *mailin.SpamCheck {
	sc := &mailin.SpamCheck{TrustHeaders: c.Spam.TrustHeaders, Threshold: c.Spam.Threshold, Timeout: c.Spam.ScanTimeout,
		Block: c.Spam.Block}
	switch {
	case c.Spam.Spamd != "":
		sc.Scanner = mailin.Spamd{Addr: c.Spam.Spamd}
	case c.Spam.Rspamd != "":
		sc.Scanner = mailin.Rspamd{URL: c.Spam.Rspamd}
	}
	if !sc.TrustHeaders && sc.Scanner == nil && len(sc.Block) == 0 {
		return nil
	}
	return sc
}

// AuthServID is the authserv-id whose Authentication-Results intake
// believes: none unless the operator declared that the MX writes and
// strips them (a header a sender planted would otherwise count).
func (c *Config) AuthServID() string {
	if !c.TrustAuthResults {
		return ""
	}
	return c.TrustedAuthServID
}

// DKIMCheck is intake's own DKIM verification of agents' mail, if enabled.
func (c *Config) DKIMCheck() *mailin.DKIMCheck {
	if !c.VerifyDKIM {
		return nil
	}
	seen := map[string]bool{}
	dc := &mailin.DKIMCheck{}
	for _, a := range c.Agents {
		if _, d, ok := strings.Cut(strings.ToLower(a.Email), "@"); ok && !seen[d] {
			seen[d] = true
			dc.Domains = append(dc.Domains, d)
		}
	}
	return dc
}

// RetentionPolicy is the retention periods in core's form.
func (c *Config) RetentionPolicy() core.Retention {
	return core.Retention{Raw: c.Retention.Raw, SentMail: c.Retention.SentMail, Quarantine: c.Retention.Quarantine}
}
