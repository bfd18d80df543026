package main

import (
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
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

	SMTP        SMTPConfig      `toml:"smtp"`
	Mailboxes   []MailboxConfig `toml:"mailboxes"`
	Routes      []RouteConfig   `toml:"routes"`
	Limits      LimitsConfig    `toml:"limits"`
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
	// checkOnly turns unreadable secret files into warnings.
	checkOnly bool
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
	Insecure     bool          `toml:"insecure_skip_verify"`
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
	// A reply this long after resolution opens a new, linked ticket.
	ReopenWindow time.Duration `toml:"reopen_window"`
}

// SLAConfig is the checker's schedule.
type SLAConfig struct {
	Schedule string `toml:"schedule"`
}

// AgentConfig is a member of staff.
type AgentConfig struct {
	Email string   `toml:"email"`
	Name  string   `toml:"name"`
	Role  string   `toml:"role"`
	Teams []string `toml:"teams"`
	Away  bool     `toml:"away"`
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

var (
	typeErrRE   = regexp.MustCompile(`TOML value has type (\w+)`)
	decodeErrRE = regexp.MustCompile(`^toml: (?:line (\d+) )?\(last key "([^"]+)"\): (.*)$`)
)

// decodeError names the file, line and key of a TOML error. The parser's
// line is right for syntax errors, but for a wrong type inside an array of
// tables it gives the key's last occurrence; so for those we look for the
// first line where that key holds a value of the reported wrong type.
func (c *Config) decodeError(err error) error {
	var line int
	var key, msg string
	var pe toml.ParseError
	if errors.As(err, &pe) {
		line, key, msg = pe.Position.Line, pe.LastKey, pe.Message
	} else if m := decodeErrRE.FindStringSubmatch(err.Error()); m != nil {
		// Type errors come as plain errors in this form.
		line, _ = strconv.Atoi(m[1])
		key, msg = m[2], m[3]
	} else {
		return fmt.Errorf("%s: %s", c.path, strings.TrimPrefix(err.Error(), "toml: "))
	}
	if m := typeErrRE.FindStringSubmatch(msg); m != nil && key != "" {
		if l := wrongTypeLine(c.raw, key, m[1]); l > 0 {
			line = l
		}
	}
	if key != "" {
		return fmt.Errorf("%s:%d: %s: %s", c.path, line, key, msg)
	}
	return fmt.Errorf("%s:%d: %s", c.path, line, msg)
}

// wrongTypeLine finds the first line setting key (e.g. "mailboxes.port") to
// a value of TOML type typ.
func wrongTypeLine(raw, key, typ string) int {
	table, field := "", key
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		table, field = key[:i], key[i+1:]
	}
	current := ""
	for n, line := range strings.Split(raw, "\n") {
		if m := tableRE.FindStringSubmatch(line); m != nil {
			current = m[2]
			continue
		}
		m := keyRE.FindStringSubmatch(line)
		if m == nil || m[1] != field || current != table {
			continue
		}
		v := strings.TrimSpace(line[len(m[0]):])
		var got string
		switch {
		case strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "'"):
			got = "string"
		case strings.HasPrefix(v, "["):
			got = "array"
		case strings.HasPrefix(v, "{"):
			got = "table"
		case v == "true" || v == "false":
			got = "bool"
		default:
			got = "integer"
			if strings.ContainsAny(v, ".eE") {
				got = "float"
			}
		}
		if got == typ {
			return n + 1
		}
	}
	return 0
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

// readSecrets loads *_file keys, relative to the config file's directory.
func (c *Config) readSecrets() error {
	read := func(key, file string, dst *string) error {
		if file == "" {
			return nil
		}
		if !filepath.IsAbs(file) && c.path != "" {
			file = filepath.Join(filepath.Dir(c.path), file)
		}
		b, err := os.ReadFile(file)
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
	if err := read("secret_file", c.SecretFile, &c.Secret); err != nil {
		return err
	}
	if err := read("smtp.password_file", c.SMTP.PasswordFile, &c.SMTP.Password); err != nil {
		return err
	}
	for i := range c.Mailboxes {
		m := &c.Mailboxes[i]
		if err := read(fmt.Sprintf("mailboxes[%d].password_file", i), m.PasswordFile, &m.Password); err != nil {
			return err
		}
	}
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

func (c *Config) validate() error {
	names := func(kind string, n int, name func(int) string) (map[string]bool, error) {
		seen := map[string]bool{}
		for i := 0; i < n; i++ {
			key := fmt.Sprintf("%s[%d].name", kind, i)
			v := strings.ToLower(name(i))
			if v == "" {
				return nil, c.errorAt(key, "name is required")
			}
			if seen[v] {
				return nil, c.errorAt(key, "duplicate name %q", name(i))
			}
			seen[v] = true
		}
		return seen, nil
	}
	deps, err := names("departments", len(c.Departments), func(i int) string { return c.Departments[i].Name })
	if err != nil {
		return err
	}
	teams, err := names("teams", len(c.Teams), func(i int) string { return c.Teams[i].Name })
	if err != nil {
		return err
	}
	for i, t := range c.Teams {
		if t.Department != "" && !deps[strings.ToLower(t.Department)] {
			return c.errorAt(fmt.Sprintf("teams[%d].department", i), "no department named %q", t.Department)
		}
	}
	plans, err := names("sla_plans", len(c.SLAPlans), func(i int) string { return c.SLAPlans[i].Name })
	if err != nil {
		return err
	}
	for i, p := range c.SLAPlans {
		if p.FirstResponse <= 0 {
			return c.errorAt(fmt.Sprintf("sla_plans[%d].first_response", i), "must be a positive duration such as \"4h\"")
		}
		if p.Resolution <= 0 {
			return c.errorAt(fmt.Sprintf("sla_plans[%d].resolution", i), "must be a positive duration such as \"24h\"")
		}
		if _, err := p.policy(); err != nil {
			return c.errorAt(fmt.Sprintf("sla_plans[%d].name", i), "%v", err)
		}
	}
	agents := map[string]bool{}
	for i, a := range c.Agents {
		key := fmt.Sprintf("agents[%d]", i)
		addr, err := mail.ParseAddress(a.Email)
		if err != nil || addr.Address != a.Email {
			return c.errorAt(key+".email", "%q is not a plain email address", a.Email)
		}
		if agents[strings.ToLower(a.Email)] {
			return c.errorAt(key+".email", "duplicate agent %q", a.Email)
		}
		agents[strings.ToLower(a.Email)] = true
		if a.Name == "" {
			return c.errorAt(key+".name", "name is required")
		}
		if a.Role != string(core.RoleAdmin) && a.Role != string(core.RoleAgent) {
			return c.errorAt(key+".role", "role must be \"admin\" or \"agent\", not %q", a.Role)
		}
		for _, t := range a.Teams {
			if !teams[strings.ToLower(t)] {
				return c.errorAt(key+".teams", "no team named %q", t)
			}
		}
	}
	topics, err := names("help_topics", len(c.HelpTopics), func(i int) string { return c.HelpTopics[i].Name })
	if err != nil {
		return err
	}
	for i, h := range c.HelpTopics {
		key := fmt.Sprintf("help_topics[%d]", i)
		if h.SLAPlan != "" && !plans[strings.ToLower(h.SLAPlan)] {
			return c.errorAt(key+".sla_plan", "no SLA plan named %q", h.SLAPlan)
		}
		if h.Priority != "" {
			if _, err := core.ParsePriority(h.Priority); err != nil {
				return c.errorAt(key+".priority", "%v", err)
			}
		}
		if h.Department != "" && !deps[strings.ToLower(h.Department)] {
			return c.errorAt(key+".department", "no department named %q", h.Department)
		}
		if h.Team != "" && !teams[strings.ToLower(h.Team)] {
			return c.errorAt(key+".team", "no team named %q", h.Team)
		}
		if h.Assignee != "" && !agents[strings.ToLower(h.Assignee)] {
			return c.errorAt(key+".assignee", "no agent with email %q", h.Assignee)
		}
	}
	if _, err := names("mailboxes", len(c.Mailboxes), func(i int) string { return c.Mailboxes[i].Name }); err != nil {
		return err
	}
	for i, m := range c.Mailboxes {
		key := fmt.Sprintf("mailboxes[%d]", i)
		if m.Host == "" {
			return c.errorAt(key+".host", "host is required")
		}
		if m.User == "" {
			return c.errorAt(key+".user", "user is required")
		}
		if m.TLS != mailin.TLSNone && m.TLS != mailin.TLSStartTLS && m.TLS != mailin.TLSImplicit {
			return c.errorAt(key+".tls", "tls must be \"tls\", \"starttls\" or \"none\", not %q", m.TLS)
		}
		if m.Address != "" {
			if _, err := mail.ParseAddress(m.Address); err != nil {
				return c.errorAt(key+".address", "%q is not an email address", m.Address)
			}
		}
		if m.DefaultTopic != "" && !topics[strings.ToLower(m.DefaultTopic)] {
			return c.errorAt(key+".default_topic", "no help topic named %q", m.DefaultTopic)
		}
	}
	for i, r := range c.Routes {
		key := fmt.Sprintf("routes[%d]", i)
		if !topics[strings.ToLower(r.Topic)] {
			return c.errorAt(key+".topic", "no help topic named %q", r.Topic)
		}
		if (r.Address == "") == (r.Match == "") {
			return c.errorAt(key+".topic", "a route needs exactly one of address or match")
		}
		if r.Match != "" {
			if _, err := regexp.Compile(r.Match); err != nil {
				return c.errorAt(key+".match", "%v", err)
			}
		}
	}
	if c.SMTP.DKIMKeyFile != "" && (c.SMTP.DKIMSelector == "" || c.Domain == "" && c.SMTP.DKIMDomain == "") {
		return c.errorAt("smtp.dkim_selector", "dkim_key_file needs dkim_selector (and dkim_domain or domain)")
	}
	if c.SMTP.Host != "" {
		if c.SMTP.TLS != mailout.TLSNone && c.SMTP.TLS != mailout.TLSStartTLS && c.SMTP.TLS != mailout.TLSImplicit {
			return c.errorAt("smtp.tls", "tls must be \"tls\", \"starttls\" or \"none\", not %q", c.SMTP.TLS)
		}
		if _, err := mail.ParseAddress(c.SMTP.From); err != nil {
			return c.errorAt("smtp.from", "from must be an address such as \"Support <support@example.com>\": %v", err)
		}
	}
	if len(c.Mailboxes) > 0 && c.SMTP.Host == "" {
		return c.errorAt("smtp.host", "mailboxes are configured but no SMTP server to answer from")
	}
	return nil
}

// errorAt formats a validation error with the file, line and key.
func (c *Config) errorAt(key, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if c.path == "" {
		return fmt.Errorf("config: %s: %s", key, msg)
	}
	if line := keyLine(c.raw, key); line > 0 {
		return fmt.Errorf("%s:%d: %s: %s", c.path, line, key, msg)
	}
	return fmt.Errorf("%s: %s: %s", c.path, key, msg)
}

var (
	tableRE = regexp.MustCompile(`^\s*(\[\[?)\s*([A-Za-z0-9_.]+)\s*\]\]?`)
	keyRE   = regexp.MustCompile(`^\s*([A-Za-z0-9_]+)\s*=`)
)

// keyLine finds the line of a key such as "agents[1].role" or "smtp.port" in
// TOML text; for a table element whose key is absent, the table's header line.
// It understands the plain layout our example uses, not every TOML form.
func keyLine(raw, key string) int {
	table, idx, field := "", -1, key
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		table, field = key[:i], key[i+1:]
		if j := strings.IndexByte(table, '['); j >= 0 {
			idx, _ = strconv.Atoi(strings.TrimSuffix(table[j+1:], "]"))
			table = table[:j]
		}
	}
	current, count, header := "", map[string]int{}, 0
	for n, line := range strings.Split(raw, "\n") {
		if m := tableRE.FindStringSubmatch(line); m != nil {
			current = m[2]
			if m[1] == "[[" {
				count[current]++
			}
			if current == table && (idx < 0 || count[current] == idx+1) {
				header = n + 1
			}
			continue
		}
		m := keyRE.FindStringSubmatch(line)
		if m == nil || m[1] != field || current != table {
			continue
		}
		if idx < 0 || count[current] == idx+1 {
			return n + 1
		}
	}
	return header
}

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
		d.Agents = append(d.Agents, core.Agent{Email: strings.ToLower(x.Email), Name: x.Name, Role: core.Role(x.Role), Teams: x.Teams, Away: x.Away})
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

// Mailbox returns the IMAP settings of mailbox i in mailin's form.
func (c *Config) Mailbox(i int) mailin.Mailbox {
	m := c.Mailboxes[i]
	return mailin.Mailbox{
		Name: m.Name, Addr: fmt.Sprintf("%s:%d", m.Host, m.Port), TLS: m.TLS, User: m.User, Password: m.Password,
		Folder: m.Folder, PollInterval: m.PollInterval, DefaultTopic: m.DefaultTopic, MoveTo: m.MoveTo,
		InsecureSkipVerify: m.Insecure,
	}
}

// SMTPSettings returns the SMTP settings in mailout's form.
func (c *Config) SMTPSettings() mailout.SMTPConfig {
	return mailout.SMTPConfig{
		Addr: fmt.Sprintf("%s:%d", c.SMTP.Host, c.SMTP.Port), TLS: c.SMTP.TLS, User: c.SMTP.User,
		Password: c.SMTP.Password, Timeout: c.SMTP.Timeout, InsecureSkipVerify: c.SMTP.Insecure,
	}
}

// StoreOptions are the core options the config sets.
func (c *Config) StoreOptions() core.Options {
	o := core.Options{Domain: c.Domain, Secret: []byte(c.Secret), ReopenWindow: c.Limits.ReopenWindow, StatusBaseURL: c.StatusURL}
	if c.Limits.AutoMailPerRecipient > 0 || c.Limits.AutoMailPerTicket > 0 || c.Limits.AutoMailWindow > 0 {
		o.Budget = core.DefaultBudget
		if c.Limits.AutoMailPerRecipient > 0 {
			o.Budget.PerRecipient = c.Limits.AutoMailPerRecipient
		}
		if c.Limits.AutoMailPerTicket > 0 {
			o.Budget.PerTicket = c.Limits.AutoMailPerTicket
		}
		if c.Limits.AutoMailWindow > 0 {
			o.Budget.Window = c.Limits.AutoMailWindow
		}
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
func (c *Config) Source(mailbox string) mailin.Source {
	src := mailin.Source{Mailbox: mailbox}
	for _, m := range c.Mailboxes {
		if m.Name == mailbox {
			src.DefaultTopic = m.DefaultTopic
		}
	}
	return src
}
