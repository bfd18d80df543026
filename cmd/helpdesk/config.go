package main

import (
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"helpdesk/core"
	"helpdesk/mailin"
	"helpdesk/mailout"
)

// Config is helpdesk.toml: where the data lives, how mail comes and goes,
// and the organisation (the directory) synced into the database on start.
type Config struct {
	DataDir      string `toml:"data_dir"`
	DatabaseURL  string `toml:"database_url"`
	Domain       string `toml:"domain"`
	Secret       string `toml:"secret"`
	SecretFile   string `toml:"secret_file"`
	TemplatesDir string `toml:"templates_dir"`
	LogFormat    string `toml:"log_format"`
	HTTPAddr     string `toml:"http_addr"`
	// StatusURL is where customers reach the status pages (default:
	// http://HTTP_ADDR); put a reverse proxy with TLS in front in production.
	StatusURL string `toml:"status_url"`
	// StallAfter: a mailbox without a successful poll for this long makes
	// /readyz fail and sends the admins one alert (and one on recovery).
	StallAfter time.Duration `toml:"stall_after"`
	// TrustedAuthServID is the authserv-id our receiving MTA writes in
	// Authentication-Results; see docs/operations.md.
	TrustedAuthServID string `toml:"trusted_authserv_id"`
	// FormSenders are web forms' sender addresses; their mail is the
	// customer's in Reply-To.
	FormSenders []string `toml:"form_senders"`
	// TrustAuthResults declares that the MX writes Authentication-Results
	// with that id on every message and strips any a sender planted;
	// without it no such header is believed.
	TrustAuthResults bool `toml:"trust_authentication_results"`
	// VerifyDKIM: helpdesk checks agents' DKIM signatures itself.
	VerifyDKIM bool `toml:"verify_dkim"`
	// AgentAuth: "token-or-dkim" (default) or "token+dkim".
	AgentAuth string `toml:"agent_auth"`
	// TokenLifetime: how long an agent's reply token is good (default 720h).
	TokenLifetime time.Duration `toml:"token_lifetime"`

	SMTP        SMTPConfig      `toml:"smtp"`
	Mailboxes   []MailboxConfig `toml:"mailboxes"`
	Routes      []RouteConfig   `toml:"routes"`
	Limits      LimitsConfig    `toml:"limits"`
	Spam        SpamConfig      `toml:"spam"`
	Retention   RetentionConfig `toml:"retention"`
	SLA         SLAConfig       `toml:"sla"`
	Departments []struct {
		Name string `toml:"name"`
	} `toml:"departments"`
	Teams []struct {
		Name       string `toml:"name"`
		Department string `toml:"department"`
		AutoAssign bool   `toml:"auto_assign"`
	} `toml:"teams"`
	Agents     []AgentConfig     `toml:"agents"`
	SLAPlans   []SLAPlanConfig   `toml:"sla_plans"`
	HelpTopics []HelpTopicConfig `toml:"help_topics"`

	path string
	raw  string
	// Warnings are problems that do not stop check-config, such as a
	// password file that exists only on the production machine.
	Warnings []string
	// Next are the steps check-config tells the admin to take next.
	Next []string
	// checkOnly turns unreadable secret files into warnings.
	checkOnly bool
}

// RetentionConfig says how long what of closed tickets is kept (zero:
// for good); helpdesk purge and an hourly job remove the rest.
type RetentionConfig struct {
	Raw        time.Duration `toml:"raw"`
	SentMail   time.Duration `toml:"sent_mail"`
	Quarantine time.Duration `toml:"quarantine"`
}

// SpamConfig says how intake tells spam; see docs/operations.md.
type SpamConfig struct {
	// TrustHeaders: the MX writes X-Spam-* / X-Spamd-Result on every message
	// and strips them from incoming mail, so they can be believed.
	TrustHeaders bool    `toml:"trust_headers"`
	Threshold    float64 `toml:"threshold"`
	// Spamd ("host:port") or Rspamd ("http://host:port"): asked directly
	// about mail that carries no trusted verdict.
	Spamd       string        `toml:"spamd"`
	Rspamd      string        `toml:"rspamd"`
	ScanTimeout time.Duration `toml:"scan_timeout"`
	// Block: addresses and "@domain"s whose mail is spam (besides
	// `helpdesk block add` and /spam).
	Block []string `toml:"block"`
	// TicketsPerSender and TicketsPerDomain limit new tickets an hour; 0
	// is no limit, and an absent per-sender limit is the default (30).
	TicketsPerSender *int `toml:"tickets_per_sender_per_hour"`
	TicketsPerDomain int  `toml:"tickets_per_domain_per_hour"`
}

// SMTPConfig is the outgoing mail server.
type SMTPConfig struct {
	Host         string        `toml:"host"`
	Port         int           `toml:"port"`
	TLS          string        `toml:"tls"`
	User         string        `toml:"user"`
	Password     string        `toml:"password"`
	PasswordFile string        `toml:"password_file"`
	From         string        `toml:"from"`
	Connections  int           `toml:"connections"`
	Timeout      time.Duration `toml:"timeout"`
	Lease        time.Duration `toml:"lease"`
	// OutageAlert: the server unreachable this long fails /readyz and
	// alerts the admins once.
	OutageAlert time.Duration `toml:"outage_alert"`
	Insecure    bool          `toml:"insecure_skip_verify"`
	CAFile      string        `toml:"ca_file"`
	// OAuth signs in with OAuth2 instead of the password.
	OAuth *OAuthConfig `toml:"oauth"`
	// DKIM signing, when a key is given.
	DKIMDomain   string `toml:"dkim_domain"`
	DKIMSelector string `toml:"dkim_selector"`
	DKIMKeyFile  string `toml:"dkim_key_file"`
}

// MailboxConfig is one IMAP folder to take mail from.
type MailboxConfig struct {
	Name         string        `toml:"name"`
	Address      string        `toml:"address"`
	Host         string        `toml:"host"`
	Port         int           `toml:"port"`
	TLS          string        `toml:"tls"`
	User         string        `toml:"user"`
	Password     string        `toml:"password"`
	PasswordFile string        `toml:"password_file"`
	Folder       string        `toml:"folder"`
	PollInterval time.Duration `toml:"poll_interval"`
	DefaultTopic string        `toml:"default_topic"`
	MoveTo       string        `toml:"move_to"`
	Insecure     bool          `toml:"insecure_skip_verify"`
	CAFile       string        `toml:"ca_file"`
	// OAuth signs in with OAuth2 instead of the password.
	OAuth *OAuthConfig `toml:"oauth"`
	// FromName names this mailbox's mail (a brand); its tickets' mail goes
	// out from its address either way.
	FromName string `toml:"from_name"`
}

// OAuthConfig is a mailbox's or the SMTP server's [oauth] block; see
// docs/operations.md for Microsoft 365 and Google Workspace.
type OAuthConfig struct {
	Provider           string   `toml:"provider"`
	Grant              string   `toml:"grant"`
	Tenant             string   `toml:"tenant"`
	ClientID           string   `toml:"client_id"`
	ClientSecret       string   `toml:"client_secret"`
	ClientSecretFile   string   `toml:"client_secret_file"`
	CertificateFile    string   `toml:"certificate_file"`
	KeyFile            string   `toml:"key_file"`
	ServiceAccountFile string   `toml:"service_account_file"`
	Scopes             []string `toml:"scopes"`
	AuthURL            string   `toml:"auth_url"`
	TokenURL           string   `toml:"token_url"`
	DeviceURL          string   `toml:"device_url"`
	CAFile             string   `toml:"ca_file"`
}

// RouteConfig sends mail to a help topic by address or by pattern.
type RouteConfig struct {
	Address string `toml:"address"`
	Match   string `toml:"match"`
	Topic   string `toml:"topic"`
}

// LimitsConfig bounds what one inbound message may cost.
type LimitsConfig struct {
	MaxMessageBytes int64 `toml:"max_message_bytes"`
	MaxHeaderBytes  int64 `toml:"max_header_bytes"`
	MaxDepth        int   `toml:"max_mime_depth"`
	MaxParts        int   `toml:"max_mime_parts"`
	// The automatic-mail budget (loop brake).
	AutoMailPerRecipient int           `toml:"auto_mail_per_recipient"`
	AutoMailPerTicket    int           `toml:"auto_mail_per_ticket"`
	AutoMailWindow       time.Duration `toml:"auto_mail_window"`
	// One acknowledgement per sender within this (RFC 3834); "0s" is off.
	AckInterval *time.Duration `toml:"ack_interval"`
	// A sender opening more tickets than this within the window costs the
	// agents one digest instead of an alert per ticket.
	AlertsPerSender int           `toml:"new_ticket_alerts_per_sender"`
	AlertWindow     time.Duration `toml:"new_ticket_alert_window"`
	// Agents' mail carries a customer's files up to this total size and
	// links to them above it (default 10 MB).
	AttachToAgentsBytes int64 `toml:"attach_to_agents_bytes"`
	// A reply this long after resolution opens a new, linked ticket.
	ReopenWindow time.Duration `toml:"reopen_window"`
}

// SLAConfig is the checker's schedule, and the agents' morning digest's.
type SLAConfig struct {
	Schedule string `toml:"schedule"`
	// QueueDigest is when each agent gets their queue by mail, a cron
	// spec (CRON_TZ=… allowed); put it inside your business hours. "off"
	// sends none; default "30 8 * * 1-5".
	QueueDigest string `toml:"queue_digest"`
	// Report is when the admins get the weekly report of the last seven
	// days, a cron spec (CRON_TZ=… allowed); "off" sends none; default
	// "0 8 * * 1", Monday 08:00.
	Report string `toml:"report"`
}

// AgentConfig is a member of staff.
type AgentConfig struct {
	Email string   `toml:"email"`
	Name  string   `toml:"name"`
	Role  string   `toml:"role"`
	Teams []string `toml:"teams"`
	Away  bool     `toml:"away"`
	// QueueDigest: false turns this agent's morning queue digest off.
	QueueDigest *bool `toml:"queue_digest"`
}

// SLAPlanConfig is a service level.
type SLAPlanConfig struct {
	Name          string        `toml:"name"`
	FirstResponse time.Duration `toml:"first_response"`
	Resolution    time.Duration `toml:"resolution"`
	// Timezone and Hours make the clock run in business hours only.
	Timezone   string           `toml:"timezone"`
	Hours      []string         `toml:"hours"`
	Holidays   []string         `toml:"holidays"`
	Pause      []string         `toml:"pause"`
	HoldAlerts bool             `toml:"hold_alerts"`
	Escalation []EscalationStep `toml:"escalation"`
}

// EscalationStep is a rung of an SLA plan's ladder.
type EscalationStep struct {
	Target   string        `toml:"target"` // first_response or resolution
	At       string        `toml:"at"`     // "75%" of the target, or "breach" (100%)
	After    time.Duration `toml:"after"`  // business time after that point
	Action   string        `toml:"action"` // warn, breach or escalate
	Priority string        `toml:"priority"`
	Team     string        `toml:"team"`
	Agent    string        `toml:"agent"`
}

// policy turns the plan's schedule and ladder into core's form.
func (p SLAPlanConfig) policy() (core.SLAPolicy, error) {
	pol := core.SLAPolicy{Timezone: p.Timezone, Hours: p.Hours, Holidays: p.Holidays, HoldAlerts: p.HoldAlerts}
	for _, st := range p.Pause {
		s, err := core.ParseStatus(st)
		if err != nil {
			return pol, err
		}
		pol.Pause = append(pol.Pause, s)
	}
	for i, e := range p.Escalation {
		step := core.EscalationStep{Target: e.Target, After: e.After, Action: e.Action, Team: e.Team, Agent: e.Agent}
		switch at := strings.TrimSpace(e.At); {
		case at == "breach" || at == "":
			step.Fraction = 1
		case strings.HasSuffix(at, "%"):
			f, err := strconv.ParseFloat(strings.TrimSuffix(at, "%"), 64)
			if err != nil || f < 0 {
				return pol, fmt.Errorf("escalation %d: at %q: want a percentage such as \"75%%\" or \"breach\"", i+1, at)
			}
			step.Fraction = f / 100
		default:
			return pol, fmt.Errorf("escalation %d: at %q: want a percentage such as \"75%%\" or \"breach\"", i+1, at)
		}
		if e.Priority != "" {
			pr, err := core.ParsePriority(e.Priority)
			if err != nil {
				return pol, fmt.Errorf("escalation %d: %w", i+1, err)
			}
			step.Priority = pr
		}
		pol.Ladder = append(pol.Ladder, step)
	}
	_, err := pol.Schedule()
	return pol, err
}

// HelpTopicConfig routes and times the requests about one topic.
type HelpTopicConfig struct {
	Name       string `toml:"name"`
	SLAPlan    string `toml:"sla_plan"`
	Priority   string `toml:"priority"`
	Department string `toml:"department"`
	Team       string `toml:"team"`
	Assignee   string `toml:"assignee"`
}

// LoadConfig reads a config file ("" for none), applies the environment's
// overrides and validates the result. Errors name the key and line.
func LoadConfig(path string) (*Config, error) { return loadConfig(path, false) }

// CheckConfig is LoadConfig for check-config: secret files that cannot be
// read here are warnings, since they may exist only where helpdesk runs.
func CheckConfig(path string) (*Config, error) { return loadConfig(path, true) }

func loadConfig(path string, checkOnly bool) (*Config, error) {
	cfg := &Config{path: path, checkOnly: checkOnly}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		cfg.raw = string(b)
		md, err := toml.Decode(cfg.raw, cfg)
		if err != nil {
			return nil, cfg.decodeError(err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			k := und[0].String()
			return nil, cfg.errorAt(k, "unknown key %q", k)
		}
	}
	cfg.applyEnv()
	if err := cfg.readSecrets(); err != nil {
		return nil, err
	}
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (c *Config) applyEnv() {
	for env, dst := range map[string]*string{
		"HELPDESK_DATABASE_URL": &c.DatabaseURL,
		"HELPDESK_DATA_DIR":     &c.DataDir,
		"HELPDESK_SECRET":       &c.Secret,
		"HELPDESK_HTTP_ADDR":    &c.HTTPAddr,
		"HELPDESK_LOG_FORMAT":   &c.LogFormat,
	} {
		if v, ok := os.LookupEnv(env); ok {
			*dst = v
		}
	}
}

// readSecrets loads the desk's secret_file, which every command that
// opens the store needs (it signs reply tokens). check-config also tries the
// mail servers' password files, as warnings.
func (c *Config) readSecrets() error {
	if err := c.readSecretFile("secret_file", c.SecretFile, &c.Secret); err != nil {
		return err
	}
	if c.checkOnly {
		return c.readMailSecrets()
	}
	return nil
}

// readMailSecrets loads the SMTP and IMAP password files. Only the commands
// that talk to mail servers call it: pipe delivery must never fail (and
// make the MTA bounce mail) over a password it does not use.
func (c *Config) readMailSecrets() error {
	if err := c.readSecretFile("smtp.password_file", c.SMTP.PasswordFile, &c.SMTP.Password); err != nil {
		return err
	}
	if o := c.SMTP.OAuth; o != nil {
		if err := c.readSecretFile("smtp.oauth.client_secret_file", o.ClientSecretFile, &o.ClientSecret); err != nil {
			return err
		}
	}
	for i := range c.Mailboxes {
		m := &c.Mailboxes[i]
		if err := c.readSecretFile(fmt.Sprintf("mailboxes[%d].password_file", i), m.PasswordFile, &m.Password); err != nil {
			return err
		}
		if o := m.OAuth; o != nil {
			if err := c.readSecretFile(fmt.Sprintf("mailboxes[%d].oauth.client_secret_file", i), o.ClientSecretFile, &o.ClientSecret); err != nil {
				return err
			}
		}
	}
	return nil
}

// readSecretFile reads one *_file key, relative to the config file's
// directory, into dst.
func (c *Config) readSecretFile(key, file string, dst *string) error {
	if file == "" {
		return nil
	}
	b, err := os.ReadFile(c.file(file))
	if err != nil && c.checkOnly {
		c.Warnings = append(c.Warnings, c.errorAt(key, "%v", err).Error())
		return nil
	}
	if err != nil {
		return c.errorAt(key, "%v", err)
	}
	*dst = strings.TrimRight(string(b), "\r\n")
	return nil
}

func (c *Config) defaults() {
	if c.DataDir == "" {
		c.DataDir = defaultDataDir()
	}
	if c.StallAfter <= 0 {
		c.StallAfter = 15 * time.Minute
	}
	if c.StatusURL == "" && c.HTTPAddr != "" {
		c.StatusURL = "http://" + c.HTTPAddr
	}
	if c.SLA.Report == "" {
		c.SLA.Report = "0 8 * * 1"
	}
	if c.SLA.QueueDigest == "" {
		c.SLA.QueueDigest = "30 8 * * 1-5"
	}
	if c.SLA.Schedule == "" {
		c.SLA.Schedule = "@every 1m"
	}
	if c.SMTP.TLS == "" {
		c.SMTP.TLS = mailout.TLSStartTLS
	}
	if c.SMTP.Port == 0 {
		c.SMTP.Port = map[string]int{mailout.TLSImplicit: 465, mailout.TLSStartTLS: 587}[c.SMTP.TLS]
		if c.SMTP.Port == 0 {
			c.SMTP.Port = 25
		}
	}
	if c.Domain == "" {
		if a, err := mail.ParseAddress(c.SMTP.From); err == nil {
			_, c.Domain, _ = strings.Cut(a.Address, "@")
		}
	}
	for i := range c.Mailboxes {
		m := &c.Mailboxes[i]
		if m.TLS == "" {
			m.TLS = mailin.TLSImplicit
		}
		if m.Port == 0 {
			m.Port = map[string]int{mailin.TLSImplicit: 993}[m.TLS]
			if m.Port == 0 {
				m.Port = 143
			}
		}
		if m.Folder == "" {
			m.Folder = "INBOX"
		}
		if m.PollInterval == 0 {
			m.PollInterval = time.Minute
		}
	}
}

func defaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/helpdesk"
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "helpdesk")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "helpdesk-data"
	}
	return filepath.Join(home, ".local", "share", "helpdesk")
}
