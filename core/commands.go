package core

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Command is one "/name args" line at the top of an agent's mail.
type Command struct {
	Line int      // line number in the mail's text, for error messages
	Raw  string   // the line as written
	Name string   // lower case, without the slash
	Args []string // quotes removed
}

// CommandError says which command failed and why; nothing of the mail that
// carried it was applied.
type CommandError struct {
	Command Command
	Reason  string
}

func (e *CommandError) Error() string {
	if e.Command.Raw == "" {
		return e.Reason
	}
	return fmt.Sprintf("line %d: %s: %s", e.Command.Line, e.Command.Raw, e.Reason)
}

// staff is an agent as commands see them.
type staff struct {
	id      int64
	email   string
	name    string
	role    Role
	teams   []int64
	depts   []int64
	address Address
}

func agentByEmail(ctx context.Context, q querier, email string) (*staff, error) {
	return scanStaff(q.QueryRow(ctx, staffQuery+` WHERE a.email = lower($1) AND a.active GROUP BY a.id`, email))
}

const staffQuery = `
	SELECT a.id, a.email, a.name, a.role,
		coalesce(array_agg(at.team_id) FILTER (WHERE at.team_id IS NOT NULL), '{}'),
		coalesce(array_agg(t.department_id) FILTER (WHERE t.department_id IS NOT NULL), '{}')
	FROM agents a LEFT JOIN agent_teams at ON at.agent_id = a.id LEFT JOIN teams t ON t.id = at.team_id`

func scanStaff(row pgx.Row) (*staff, error) {
	var a staff
	err := row.Scan(&a.id, &a.email, &a.name, &a.role, &a.teams, &a.depts)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load agent: %w", err)
	}
	a.address = Address{Name: a.name, Email: a.email}
	return &a, nil
}

// findAgent resolves "/assign" arguments: an email, a full name, or a first
// name that only one agent has.
func findAgent(ctx context.Context, tx pgx.Tx, who string) (*staff, error) {
	who = strings.TrimSpace(who)
	if strings.Contains(who, "@") {
		a, err := agentByEmail(ctx, tx, who)
		if err == nil && a == nil {
			return nil, fmt.Errorf("no agent with email %s", who)
		}
		return a, err
	}
	rows, err := tx.Query(ctx, staffQuery+` WHERE a.active AND (lower(a.name) = lower($1) OR lower(split_part(a.name, ' ', 1)) = lower($1))
		GROUP BY a.id ORDER BY (lower(a.name) = lower($1)) DESC, a.id`, who)
	if err != nil {
		return nil, fmt.Errorf("find agent %q: %w", who, err)
	}
	var found []*staff
	for rows.Next() {
		a, err := scanStaff(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		found = append(found, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find agent %q: %w", who, err)
	}
	switch {
	case len(found) == 0:
		return nil, fmt.Errorf("no agent named %q", who)
	case strings.EqualFold(found[0].name, who) && (len(found) == 1 || !strings.EqualFold(found[1].name, who)):
		return found[0], nil
	case len(found) == 1:
		return found[0], nil
	}
	var names []string
	for _, a := range found {
		names = append(names, a.name+" <"+a.email+">")
	}
	return nil, fmt.Errorf("%q is ambiguous: %s; use the email address", who, strings.Join(names, ", "))
}

// mayAct reports whether an agent may change a ticket: admins always; agents
// when it is assigned to them, their team, or their teams' department.
func (a *staff) mayAct(t *Ticket) bool {
	if a.role == RoleAdmin || t.assigneeID == a.id {
		return true
	}
	for _, id := range a.teams {
		if id == t.teamID {
			return true
		}
	}
	for _, id := range a.depts {
		if id != 0 && id == t.departmentID {
			return true
		}
	}
	return false
}

// applyCommands runs every command against the ticket inside tx and returns
// a line per change. The caller rolls back on error: all or nothing.
func (s *Store) applyCommands(ctx context.Context, tx pgx.Tx, t *Ticket, by *staff, cmds []Command, now time.Time) ([]string, error) {
	if !by.mayAct(t) {
		c := Command{}
		if len(cmds) > 0 {
			c = cmds[0]
		}
		return nil, &CommandError{c, fmt.Sprintf("%s may not act on ticket %s: it is not assigned to them or their team", by.name, t.Tag())}
	}
	var changes []string
	for _, c := range cmds {
		change, err := s.applyCommand(ctx, tx, t, by, c, now)
		if err != nil {
			return nil, &CommandError{c, err.Error()}
		}
		// Reload: later commands and the mails see the new state.
		fresh, err := ticketByNumber(ctx, tx, t.Number, false)
		if err != nil {
			return nil, err
		}
		*t = *fresh
		if change != "" {
			changes = append(changes, change)
		}
	}
	return changes, nil
}

func oneArg(c Command) (string, error) {
	if len(c.Args) == 0 {
		return "", fmt.Errorf("/%s needs an argument", c.Name)
	}
	return strings.Join(c.Args, " "), nil
}

func (s *Store) applyCommand(ctx context.Context, tx pgx.Tx, t *Ticket, by *staff, c Command, now time.Time) (string, error) {
	who := actor{agentID: by.id, name: by.name}
	switch c.Name {
	case "assign", "take":
		target := by
		if c.Name == "assign" {
			arg, err := oneArg(c)
			if err != nil {
				return "", err
			}
			if target, err = findAgent(ctx, tx, arg); err != nil {
				return "", err
			}
		}
		return s.assign(ctx, tx, t, target, who, now)
	case "team":
		arg, err := oneArg(c)
		if err != nil {
			return "", err
		}
		return s.setTeam(ctx, tx, t, arg, by, now)
	case "priority":
		arg, err := oneArg(c)
		if err != nil {
			return "", err
		}
		p, err := ParsePriority(arg)
		if err != nil {
			return "", err
		}
		return "priority: " + string(p), s.setPriority(ctx, tx, t, p, who, now)
	case "sla":
		arg, err := oneArg(c)
		if err != nil {
			return "", err
		}
		return s.setSLA(ctx, tx, t, arg, who, now)
	case "topic":
		arg, err := oneArg(c)
		if err != nil {
			return "", err
		}
		return s.setTopic(ctx, tx, t, arg, who, now)
	case "status", "resolve", "close", "reopen":
		st, err := commandStatus(c)
		if err != nil {
			return "", err
		}
		return "status: " + string(st), s.setStatus(ctx, tx, t, st, who, now)
	case "spam":
		return s.markSpam(ctx, tx, t, by, c, now)
	case "merge":
		return s.merge(ctx, tx, t, by, c, now)
	case "reply":
		return s.checkCanned(c)
	case "link":
		return s.link(ctx, tx, t, by, c, now)
	case "note":
		return "internal note added", nil
	case "cc", "uncc":
		arg, err := oneArg(c)
		if err != nil {
			return "", err
		}
		return s.setCollaborator(ctx, tx, t, c.Name, arg, by, now)
	}
	return "", fmt.Errorf("unknown command /%s (known: /assign, /take, /team, /priority, /sla, /topic, /status, /resolve, /close, /reopen, /note, /cc, /uncc, /merge, /link, /spam, /reply)", c.Name)
}

// setTeam moves the ticket to the named team, and to the team's department.
func (s *Store) setTeam(ctx context.Context, tx pgx.Tx, t *Ticket, arg string, by *staff, now time.Time) (string, error) {
	var id int64
	var name string
	var dept *int64
	if err := tx.QueryRow(ctx, `SELECT id, name, department_id FROM teams WHERE lower(name) = lower($1)`, arg).Scan(&id, &name, &dept); err != nil {
		return "", fmt.Errorf("no team named %q", arg)
	}
	// Moving a ticket to a team moves it to the team's department too.
	if _, err := tx.Exec(ctx, `UPDATE tickets SET team_id = $2, department_id = coalesce($4, department_id), updated_at = $3
		WHERE id = $1`, t.ID, id, now, dept); err != nil {
		return "", fmt.Errorf("move ticket %d to team %s: %w", t.ID, name, err)
	}
	return "team: " + name, addEntry(ctx, tx, t.ID, entry{kind: EntryEvent, event: EventTeam, agentID: by.id,
		data: map[string]any{"from": t.Team, "to": name}}, now)
}

// commandStatus is the status a /status, /resolve, /close or /reopen asks for.
func commandStatus(c Command) (Status, error) {
	var st Status
	switch c.Name {
	case "resolve":
		st = StatusResolved
	case "close":
		st = StatusClosed
	case "reopen":
		st = StatusOpen
	default:
		arg, err := oneArg(c)
		if err != nil {
			return "", err
		}
		if st, err = ParseStatus(arg); err != nil {
			return "", err
		}
	}
	if c.Name != "status" && len(c.Args) > 0 {
		return "", fmt.Errorf("/%s takes no argument", c.Name)
	}
	return st, nil
}

// setCollaborator adds (action "cc") or removes ("uncc") a customer who gets the
// ticket's replies.
func (s *Store) setCollaborator(ctx context.Context, tx pgx.Tx, t *Ticket, action, arg string, by *staff, now time.Time) (string, error) {
	addr, err := mail.ParseAddress(arg)
	if err != nil {
		return "", fmt.Errorf("%q is not an email address", arg)
	}
	email := strings.ToLower(addr.Address)
	if action == "cc" {
		id, err := upsertCustomer(ctx, tx, Address{Name: addr.Name, Email: email}, false, now)
		if err != nil {
			return "", err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO ticket_collaborators (ticket_id, customer_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, t.ID, id); err != nil {
			return "", fmt.Errorf("add collaborator %s to ticket %d: %w", email, t.ID, err)
		}
	} else {
		tag, err := tx.Exec(ctx, `DELETE FROM ticket_collaborators WHERE ticket_id = $1
			AND customer_id = (SELECT id FROM customers WHERE email = $2)`, t.ID, email)
		if err != nil {
			return "", fmt.Errorf("remove collaborator %s from ticket %d: %w", email, t.ID, err)
		}
		if tag.RowsAffected() == 0 {
			return "", fmt.Errorf("%s is not a collaborator on this ticket", email)
		}
	}
	return action + ": " + email, addEntry(ctx, tx, t.ID, entry{kind: EntryEvent, event: "collaborator", agentID: by.id,
		data: map[string]any{"action": action, "email": email}}, now)
}

func (s *Store) assign(ctx context.Context, tx pgx.Tx, t *Ticket, to *staff, by actor, now time.Time) (string, error) {
	if _, err := tx.Exec(ctx, `UPDATE tickets SET assignee_id = $2, updated_at = $3 WHERE id = $1`, t.ID, to.id, now); err != nil {
		return "", fmt.Errorf("assign ticket %d: %w", t.Number, err)
	}
	from := ""
	if t.Assignee != nil {
		from = t.Assignee.Email
	}
	if err := addEntry(ctx, tx, t.ID, entry{kind: EntryEvent, event: EventAssigned, agentID: by.agentID,
		data: map[string]any{"from": from, "to": to.email}}, now); err != nil {
		return "", err
	}
	if to.id != by.agentID && from != to.email {
		fresh, err := ticketByNumber(ctx, tx, t.Number, false)
		if err != nil {
			return "", err
		}
		mail := outMail{ticket: fresh, template: TemplateAssigned, to: to.address, agentID: to.id, data: MailData{By: by.name}}
		if err := s.withRequestFiles(ctx, tx, &mail, t.ID, now); err != nil {
			return "", err
		}
		if err := s.queue(ctx, tx, now, mail); err != nil {
			return "", err
		}
	}
	return "assigned to " + to.name, nil
}

func (s *Store) setPriority(ctx context.Context, tx pgx.Tx, t *Ticket, p Priority, by actor, now time.Time) error {
	if _, err := tx.Exec(ctx, `UPDATE tickets SET priority = $2, updated_at = $3 WHERE id = $1`, t.ID, string(p), now); err != nil {
		return fmt.Errorf("set priority of %d: %w", t.Number, err)
	}
	return addEntry(ctx, tx, t.ID, entry{kind: EntryEvent, event: EventPriority, agentID: by.agentID,
		data: map[string]any{"from": string(t.Priority), "to": string(p)}}, now)
}

// setSLA moves a ticket to another plan. The business time already on the
// clock counts against the new plan's targets, so a lower plan relaxes the
// due times and a higher one tightens them. The overdue flag is re-earned
// against the new targets.
func (s *Store) setSLA(ctx context.Context, tx pgx.Tx, t *Ticket, plan string, by actor, now time.Time) (string, error) {
	var id int64
	var name string
	if err := tx.QueryRow(ctx, `SELECT id, name FROM sla_plans WHERE lower(name) = lower($1)`, plan).Scan(&id, &name); err != nil {
		return "", fmt.Errorf("no SLA plan named %q", plan)
	}
	if _, err := tx.Exec(ctx, `UPDATE tickets SET sla_plan_id = $2, overdue = false, updated_at = $3 WHERE id = $1`,
		t.ID, id, now); err != nil {
		return "", fmt.Errorf("set sla of %d: %w", t.Number, err)
	}
	if err := s.resetSLA(ctx, tx, t.ID, now); err != nil {
		return "", err
	}
	var frDue, resDue *time.Time
	if err := tx.QueryRow(ctx, `SELECT first_response_due, resolution_due FROM tickets WHERE id = $1`, t.ID).Scan(&frDue, &resDue); err != nil {
		return "", fmt.Errorf("read due times of ticket %d: %w", t.ID, err)
	}
	data := map[string]any{"from": t.SLAPlan, "to": name}
	change := "SLA plan: " + name
	if frDue != nil {
		data["first_response_due"] = frDue.UTC().Format(time.RFC3339)
	}
	if resDue != nil {
		data["resolution_due"] = resDue.UTC().Format(time.RFC3339)
		change += " (resolution due " + resDue.UTC().Format("2006-01-02 15:04 MST") + ")"
	}
	return change, addEntry(ctx, tx, t.ID, entry{kind: EntryEvent, event: EventSLA, agentID: by.agentID, data: data}, now)
}

func (s *Store) setTopic(ctx context.Context, tx pgx.Tx, t *Ticket, topic string, by actor, now time.Time) (string, error) {
	r, err := loadRoute(ctx, tx, topic)
	if err != nil {
		return "", err
	}
	if r.topicID == nil {
		return "", fmt.Errorf("no help topic named %q", topic)
	}
	if _, err := tx.Exec(ctx, `UPDATE tickets SET help_topic_id = $2, team_id = coalesce($3, team_id),
		department_id = coalesce($4, department_id), updated_at = $5 WHERE id = $1`,
		t.ID, *r.topicID, r.teamID, r.departmentID, now); err != nil {
		return "", fmt.Errorf("set help topic of ticket %d: %w", t.ID, err)
	}
	if err := addEntry(ctx, tx, t.ID, entry{kind: EntryEvent, event: EventTopic, agentID: by.agentID,
		data: map[string]any{"from": t.HelpTopic, "to": r.topic}}, now); err != nil {
		return "", err
	}
	change := "help topic: " + r.topic
	if r.sla != "" && !strings.EqualFold(r.sla, t.SLAPlan) {
		c, err := s.setSLA(ctx, tx, t, r.sla, by, now)
		if err != nil {
			return "", err
		}
		change += "; " + c
	}
	return change, nil
}

// markSpam is /spam: the ticket is marked spam and closed without a word to
// the sender, and the sender is blocked (with "/spam domain", the domain).
func (s *Store) markSpam(ctx context.Context, tx pgx.Tx, t *Ticket, by *staff, c Command, now time.Time) (string, error) {
	pattern := t.Customer.Email
	switch {
	case len(c.Args) == 1 && strings.EqualFold(c.Args[0], "domain"):
		pattern = "@" + domainOf(t.Customer.Email)
	case len(c.Args) > 0:
		return "", fmt.Errorf(`/spam takes no argument or "domain"`)
	}
	if _, err := tx.Exec(ctx, `UPDATE tickets SET spam = true WHERE id = $1`, t.ID); err != nil {
		return "", fmt.Errorf("mark ticket %d spam: %w", t.Number, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE messages SET class = 'spam', note = 'marked spam by ' || $2 WHERE ticket_id = $1 AND class = 'human'`,
		t.ID, by.email); err != nil {
		return "", fmt.Errorf("mark messages of %d spam: %w", t.Number, err)
	}
	if err := addBlock(ctx, tx, pattern, fmt.Sprintf("/spam on ticket %d", t.Number), by.email, now); err != nil {
		return "", err
	}
	t.Spam = true
	if err := addEntry(ctx, tx, t.ID, entry{kind: EntryEvent, event: EventSpam, agentID: by.id,
		data: map[string]any{"blocked": pattern}}, now); err != nil {
		return "", err
	}
	return "spam: closed, " + pattern + " blocked", s.setStatus(ctx, tx, t, StatusClosed, actor{agentID: by.id, name: by.name}, now)
}
