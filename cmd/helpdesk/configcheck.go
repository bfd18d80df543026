package main

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/robfig/cron/v3"

	"helpdesk/core"
	"helpdesk/core/mailauth"
	"helpdesk/mailin"
	"helpdesk/mailout"
)

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

// configNames are the lower-cased names each part of the config may refer
// to, collected as the parts are checked.
type configNames struct {
	departments, teams, plans, agents, topics map[string]bool
}

func (c *Config) validate() error {
	var n configNames
	for _, check := range []func(*configNames) error{
		c.validateOrganisation, c.validateSLAPlans, c.validateAgents,
		c.validateHelpTopics, c.validateMailboxes, c.validateRoutes,
	} {
		if err := check(&n); err != nil {
			return err
		}
	}
	for _, check := range []func() error{c.validateSMTP, c.validateTrust, c.validateGeneral, c.validateSpam} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// uniqueNames checks that each of n entries of kind has a name, unique
// regardless of case, and returns the set of them.
func (c *Config) uniqueNames(kind string, n int, name func(int) string) (map[string]bool, error) {
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

func (c *Config) validateOrganisation(n *configNames) error {
	var err error
	if n.departments, err = c.uniqueNames("departments", len(c.Departments), func(i int) string { return c.Departments[i].Name }); err != nil {
		return err
	}
	if n.teams, err = c.uniqueNames("teams", len(c.Teams), func(i int) string { return c.Teams[i].Name }); err != nil {
		return err
	}
	for i, t := range c.Teams {
		if t.Department != "" && !n.departments[strings.ToLower(t.Department)] {
			return c.errorAt(fmt.Sprintf("teams[%d].department", i), "no department named %q", t.Department)
		}
	}
	return nil
}

func (c *Config) validateSLAPlans(n *configNames) error {
	var err error
	if n.plans, err = c.uniqueNames("sla_plans", len(c.SLAPlans), func(i int) string { return c.SLAPlans[i].Name }); err != nil {
		return err
	}
	for i, p := range c.SLAPlans {
		if p.FirstResponse <= 0 {
			return c.errorAt(fmt.Sprintf("sla_plans[%d].first_response", i), "must be a positive duration such as \"4h\"")
		}
		if p.Resolution <= 0 {
			return c.errorAt(fmt.Sprintf("sla_plans[%d].resolution", i), "must be a positive duration such as \"24h\"")
		}
		if err := c.validateLadder(i, p); err != nil {
			return err
		}
		if _, err := p.policy(); err != nil {
			return c.errorAt(fmt.Sprintf("sla_plans[%d].hours", i), "%v", err)
		}
	}
	return nil
}

func (c *Config) validateAgents(n *configNames) error {
	n.agents = map[string]bool{}
	for i, a := range c.Agents {
		key := fmt.Sprintf("agents[%d]", i)
		addr, err := mail.ParseAddress(a.Email)
		if err != nil || addr.Address != a.Email {
			return c.errorAt(key+".email", "%q is not a plain email address", a.Email)
		}
		if n.agents[strings.ToLower(a.Email)] {
			return c.errorAt(key+".email", "duplicate agent %q", a.Email)
		}
		n.agents[strings.ToLower(a.Email)] = true
		if a.Name == "" {
			return c.errorAt(key+".name", "name is required")
		}
		if a.Role != string(core.RoleAdmin) && a.Role != string(core.RoleAgent) {
			return c.errorAt(key+".role", "role must be \"admin\" or \"agent\", not %q", a.Role)
		}
		for _, t := range a.Teams {
			if !n.teams[strings.ToLower(t)] {
				return c.errorAt(key+".teams", "no team named %q", t)
			}
		}
	}
	return nil
}

func (c *Config) validateHelpTopics(n *configNames) error {
	var err error
	if n.topics, err = c.uniqueNames("help_topics", len(c.HelpTopics), func(i int) string { return c.HelpTopics[i].Name }); err != nil {
		return err
	}
	for i, h := range c.HelpTopics {
		key := fmt.Sprintf("help_topics[%d]", i)
		if h.SLAPlan != "" && !n.plans[strings.ToLower(h.SLAPlan)] {
			return c.errorAt(key+".sla_plan", "no SLA plan named %q", h.SLAPlan)
		}
		if h.Priority != "" {
			if _, err := core.ParsePriority(h.Priority); err != nil {
				return c.errorAt(key+".priority", "%v", err)
			}
		}
		if h.Department != "" && !n.departments[strings.ToLower(h.Department)] {
			return c.errorAt(key+".department", "no department named %q", h.Department)
		}
		if h.Team != "" && !n.teams[strings.ToLower(h.Team)] {
			return c.errorAt(key+".team", "no team named %q", h.Team)
		}
		if h.Assignee != "" && !n.agents[strings.ToLower(h.Assignee)] {
			return c.errorAt(key+".assignee", "no agent with email %q", h.Assignee)
		}
	}
	return nil
}

func (c *Config) validateMailboxes(n *configNames) error {
	if _, err := c.uniqueNames("mailboxes", len(c.Mailboxes), func(i int) string { return c.Mailboxes[i].Name }); err != nil {
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
		if m.DefaultTopic != "" && !n.topics[strings.ToLower(m.DefaultTopic)] {
			return c.errorAt(key+".default_topic", "no help topic named %q", m.DefaultTopic)
		}
		if err := c.validateOAuth(key, m.OAuth, mailauth.IMAP, m.Name); err != nil {
			return err
		}
	}
	if len(c.Mailboxes) > 0 && c.SMTP.Host == "" {
		return c.errorAt("smtp.host", "mailboxes are configured but no SMTP server to answer from")
	}
	return nil
}

func (c *Config) validateRoutes(n *configNames) error {
	for i, r := range c.Routes {
		key := fmt.Sprintf("routes[%d]", i)
		if !n.topics[strings.ToLower(r.Topic)] {
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
	return nil
}

func (c *Config) validateSMTP() error {
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
		if c.SMTP.OAuth != nil && c.SMTP.User == "" {
			return c.errorAt("smtp.user", "user is required with oauth: the mailbox address to send as")
		}
		return c.validateOAuth("smtp", c.SMTP.OAuth, mailauth.SMTP, "")
	}
	return nil
}

// validateOAuth checks an [oauth] block and, for a grant a person gives,
// says which command signs in next.
func (c *Config) validateOAuth(key string, o *OAuthConfig, service, mailbox string) error {
	if o == nil {
		return nil
	}
	settings := c.oauth(o, service)
	if err := settings.Check(); err != nil {
		return c.errorAt(key+".oauth", "%v", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	if settings.Delegated() {
		c.Next = append(c.Next, fmt.Sprintf("sign in for %s: %s", mailauth.Account(mailbox), mailauth.LoginCommand(mailbox)))
	}
	return nil
}

// validateGeneral checks what a new admin gets wrong first: an empty file,
// the checker's schedule, the status pages' address.
func (c *Config) validateGeneral() error {
	if c.checkOnly && c.path != "" && strings.TrimSpace(stripComments(c.raw)) == "" {
		return fmt.Errorf("%s: the file is empty; start from helpdesk.example.toml", c.path)
	}
	parser := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	for key, spec := range map[string]string{"sla.schedule": c.SLA.Schedule, "sla.queue_digest": c.SLA.QueueDigest, "sla.report": c.SLA.Report} {
		if spec == "off" && key != "sla.schedule" {
			continue
		}
		if _, err := parser.Parse(spec); err != nil {
			return c.errorAt(key, "%q is not a cron schedule (\"@every 1m\", \"30 8 * * 1-5\"): %v", spec, err)
		}
	}
	if c.StatusURL != "" {
		if u, err := url.Parse(c.StatusURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c.errorAt("status_url", "%q must be an address such as \"https://help.example.com\"", c.StatusURL)
		}
	}
	return nil
}

// validateLadder checks plan i's escalation steps, naming the bad key.
func (c *Config) validateLadder(i int, p SLAPlanConfig) error {
	agents, teams := map[string]bool{}, map[string]bool{}
	for _, a := range c.Agents {
		agents[strings.ToLower(a.Email)], agents[strings.ToLower(a.Name)] = true, true
	}
	for _, t := range c.Teams {
		teams[strings.ToLower(t.Name)] = true
	}
	for j, e := range p.Escalation {
		key := fmt.Sprintf("sla_plans[%d].escalation[%d]", i, j)
		if at := strings.TrimSpace(e.At); strings.HasSuffix(at, "%") {
			f, err := strconv.ParseFloat(strings.TrimSuffix(at, "%"), 64)
			if err != nil || f <= 0 || f > 100 {
				return c.errorAt(key+".at", "at %q: want a percentage from 1%% to 100%% of the target, or \"breach\"", e.At)
			}
		}
		switch e.Target {
		case "", core.TargetFirstResponse, core.TargetResolution:
		default:
			return c.errorAt(key+".target", "target must be %q or %q, not %q", core.TargetFirstResponse, core.TargetResolution, e.Target)
		}
		switch e.Action {
		case "", "warn", "breach", "escalate":
		default:
			return c.errorAt(key+".action", "action must be \"warn\", \"breach\" or \"escalate\", not %q", e.Action)
		}
		if e.Agent != "" && !agents[strings.ToLower(e.Agent)] {
			return c.errorAt(key+".agent", "no agent %q among [[agents]]", e.Agent)
		}
		if e.Team != "" && !teams[strings.ToLower(e.Team)] {
			return c.errorAt(key+".team", "no team %q among [[teams]]", e.Team)
		}
	}
	return nil
}

// stripComments drops TOML comment lines, to tell an empty file.
func stripComments(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			b.WriteString(t + "\n")
		}
	}
	return b.String()
}

// validateTrust checks how agents' mail is proven, and warns when an
// authserv-id is configured but not declared trustworthy.
func (c *Config) validateTrust() error {
	switch core.AgentAuth(c.AgentAuth) {
	case "", core.AgentAuthEither, core.AgentAuthBoth:
	default:
		return c.errorAt("agent_auth", "agent_auth must be %q or %q, not %q", core.AgentAuthEither, core.AgentAuthBoth, c.AgentAuth)
	}
	if core.AgentAuth(c.AgentAuth) == core.AgentAuthBoth && !c.VerifyDKIM && !c.TrustAuthResults {
		return c.errorAt("agent_auth", "token+dkim needs a DKIM result: set verify_dkim, or trust_authentication_results with trusted_authserv_id")
	}
	if c.TrustAuthResults && c.TrustedAuthServID == "" {
		return c.errorAt("trust_authentication_results", "set trusted_authserv_id to the id your MX writes")
	}
	if c.TrustedAuthServID != "" && !c.TrustAuthResults {
		c.Warnings = append(c.Warnings, c.errorAt("trusted_authserv_id",
			"ignored until trust_authentication_results = true declares that your MX writes and strips Authentication-Results (docs/operations.md)").Error())
	}
	return nil
}

func (c *Config) validateSpam() error {
	if c.Spam.Spamd != "" && c.Spam.Rspamd != "" {
		return c.errorAt("spam.rspamd", "set spamd or rspamd, not both")
	}
	if c.Spam.Spamd != "" {
		if _, _, err := net.SplitHostPort(c.Spam.Spamd); err != nil {
			return c.errorAt("spam.spamd", "spamd must be host:port, such as \"127.0.0.1:783\": %v", err)
		}
	}
	if u, err := url.Parse(c.Spam.Rspamd); c.Spam.Rspamd != "" && (err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https")) {
		return c.errorAt("spam.rspamd", "rspamd must be a URL such as \"http://127.0.0.1:11333\"")
	}
	for i, b := range c.Spam.Block {
		if _, err := core.NormaliseBlock(b); err != nil {
			return c.errorAt(fmt.Sprintf("spam.block[%d]", i), "%v", err)
		}
	}
	if (c.Spam.TicketsPerSender != nil && *c.Spam.TicketsPerSender < 0) || c.Spam.TicketsPerDomain < 0 {
		return c.errorAt("spam.tickets_per_sender_per_hour", "ticket limits must not be negative (0 is no limit)")
	}
	if c.Spam.Threshold < 0 {
		return c.errorAt("spam.threshold", "threshold must not be negative")
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
