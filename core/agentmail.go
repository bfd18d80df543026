package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/net/publicsuffix"
)

// staffMail handles a message on a ticket that is, or claims to be, from an
// agent. It reports false when the message is an ordinary customer message.
//
// A mail counts as an agent's only if its From is one known agent and it
// proves it (see unproven). Anything else that claims to be an agent, or
// uses an agent's token, is kept as an internal record flagged unverified:
// no command runs, the customer gets nothing, and the agent is told.
func (s *Store) staffMail(ctx context.Context, tx pgx.Tx, t *Ticket, in *Inbound, msgRef int64, now time.Time, how string, res *IngestResult) (bool, error) {
	agent, err := agentByEmail(ctx, tx, in.From.Email)
	if err != nil {
		return false, err
	}
	tok, tokOK := s.ParseToken(in.ReplyToken)
	agentToken := tokOK && tok.Agent != 0
	if agent == nil && !agentToken {
		return false, nil
	}
	// An agent who opened a ticket as its requester (their own laptop, say)
	// replies to it as a customer, with no more trust than any customer.
	if !agentToken && strings.EqualFold(t.Customer.Email, in.From.Email) {
		return false, nil
	}
	if err := s.attach(ctx, tx, t, in, msgRef); err != nil {
		return true, err
	}
	if reason := s.unproven(agent, t, tok, tokOK, in, now); reason != "" {
		return true, s.refuseAgentMail(ctx, tx, t, agent, tok, in, msgRef, reason, now, res)
	}
	res.Ticket = t.Number

	// All or nothing: commands run inside a savepoint that a failure undoes.
	sp, err := tx.Begin(ctx)
	if err != nil {
		return true, err
	}
	changes, cmdErr := s.applyCommands(ctx, sp, t, agent, in.Commands, now)
	if cmdErr != nil {
		if err := sp.Rollback(ctx); err != nil {
			return true, err
		}
		var ce *CommandError
		if !errors.As(cmdErr, &ce) {
			return true, cmdErr
		}
		res.Action = "agent commands refused: " + ce.Error()
		return true, s.refuseCommands(ctx, tx, t, agent, in, msgRef, ce, now)
	}
	if err := sp.Commit(ctx); err != nil {
		return true, err
	}

	sent, err := s.postAgentText(ctx, tx, t, agent, in, msgRef, now)
	if err != nil {
		return true, err
	}
	if sent {
		changes = append(changes, "response sent to "+t.Customer.Email)
	}
	res.Action = fmt.Sprintf("agent mail from %s: %d commands", agent.email, len(in.Commands))
	if len(in.Commands) == 0 {
		return true, nil
	}
	return true, s.queue(ctx, tx, now, outMail{ticket: t, template: TemplateCommandReceipt, to: agent.address,
		agentID: agent.id, inReplyTo: in.MessageID, data: MailData{Changes: changes, AuthorID: agent.id}})
}

// refuseCommands records an agent's mail whose commands failed as a note
// flagged rejected, and tells the agent which command and why.
func (s *Store) refuseCommands(ctx context.Context, tx pgx.Tx, t *Ticket, agent *staff, in *Inbound, msgRef int64, ce *CommandError, now time.Time) error {
	if err := addEntry(ctx, tx, t.ID, entry{kind: EntryNote, agentID: agent.id, body: in.Text, messageRef: msgRef,
		data: map[string]any{"rejected": true, "error": ce.Error()}}, now); err != nil {
		return err
	}
	fresh, err := ticketByNumber(ctx, tx, t.Number, false)
	if err != nil {
		return err
	}
	return s.queue(ctx, tx, now, outMail{ticket: fresh, template: TemplateCommandError, to: agent.address,
		agentID: agent.id, inReplyTo: in.MessageID, attach: msgRef,
		data: MailData{Line: ce.Command.Line, Command: ce.Command.Raw, Error: ce.Reason}})
}

// postAgentText puts what an agent wrote (after the commands, with any
// canned reply) on the ticket: a note, a response to the customer, or, for
// status-only mail, the customer's resolution notice. sent says whether a
// response went to the customer.
func (s *Store) postAgentText(ctx context.Context, tx pgx.Tx, t *Ticket, agent *staff, in *Inbound, msgRef int64, now time.Time) (sent bool, err error) {
	body := strings.TrimSpace(in.CommandRest)
	if len(in.Commands) == 0 {
		body = strings.TrimSpace(in.Text)
	}
	// /reply NAME: the canned response follows what the agent wrote.
	canned, err := s.cannedReply(t, agent, in.Commands)
	if err != nil {
		return false, err
	}
	body = strings.TrimSpace(body + "\n\n" + canned)
	// Text with /spam is for the agents: a spammer hears nothing.
	isNote := len(in.Commands) > 0 && (in.Commands[len(in.Commands)-1].Name == "note" || t.Spam)
	switch {
	case isNote && (body != "" || !t.Spam):
		if err := s.addNote(ctx, tx, t, agent, body, msgRef, now); err != nil {
			return false, err
		}
	case isNote: // a bare /spam: nothing to add
	case body != "":
		if err := s.respond(ctx, tx, t, agent, body, msgRef, in.MessageID, now); err != nil {
			return false, err
		}
		return true, nil
	default:
		// Status-only mail: tell the customer when the ticket is resolved or closed.
		if (t.Status == StatusResolved || t.Status == StatusClosed) && !t.Spam && t.MergedInto == 0 {
			if err := s.mailCustomers(ctx, tx, t, TemplateResolved, "", MailData{}, 0, now); err != nil {
				return false, err
			}
		}
	}
	return false, nil
}

// unproven says why a mail claiming to be an agent's does not prove it, or
// "" when it does: a reply token issued to that agent for this ticket and
// not expired, or a DKIM/DMARC pass for the agent's domain, or both when
// the operator requires both (AgentAuthBoth).
func (s *Store) unproven(agent *staff, t *Ticket, tok ReplyToken, tokOK bool, in *Inbound, now time.Time) string {
	if agent == nil {
		return "reply token issued to an agent, sent by a non-agent"
	}
	if in.FromCount > 1 {
		return "the From line names more than one address"
	}
	tokenProves, tokenWhy := false, "no reply token issued to them"
	switch {
	case tokOK && tok.Agent == agent.id && tok.Ticket == t.Number && !tok.Expired(now):
		tokenProves = true
	case tokOK && tok.Agent == agent.id && tok.Ticket == t.Number:
		tokenWhy = "their reply token for this ticket has expired"
	case tokOK && tok.Agent != 0:
		tokenWhy = "a reply token issued to another agent or ticket"
	}
	dkimProves := aligned(agent.email, in.AuthPass)
	switch {
	case s.agentAuth == AgentAuthBoth && !tokenProves:
		return tokenWhy + " (this desk requires a token and DKIM)"
	case s.agentAuth == AgentAuthBoth && !dkimProves:
		return "no DKIM signature of their domain (this desk requires a token and DKIM)"
	case !tokenProves && !dkimProves:
		return tokenWhy + ", and no DKIM/DMARC pass for their domain"
	}
	return ""
}

// refuseAgentMail keeps a mail that claims to be an agent's and cannot
// prove it as a flagged internal note: no command runs, the customer gets
// nothing, and the agent it claims to be (or whose token it carries) is
// told why, at most once an hour, so a real agent knows how to act.
func (s *Store) refuseAgentMail(ctx context.Context, tx pgx.Tx, t *Ticket, agent *staff, tok ReplyToken, in *Inbound, msgRef int64,
	reason string, now time.Time, res *IngestResult) error {
	res.Ticket, res.Unverified = t.Number, true
	res.Action = "unverified agent mail: kept as internal record (" + reason + ")"
	if err := addEntry(ctx, tx, t.ID, entry{kind: EntryNote, body: in.Text, messageRef: msgRef,
		data: map[string]any{"unverified": true, "reason": reason, "from": in.From.Email}}, now); err != nil {
		return err
	}
	id := tok.Agent
	if agent != nil {
		id = agent.id
	}
	list, err := agentsWhere(ctx, tx, `a.id = $1`, id)
	if err != nil || len(list) == 0 {
		return err
	}
	return s.queueDigest(ctx, tx, now, list, digestMail{key: fmt.Sprintf("unverified:%d", t.Number), template: TemplateUnverified,
		ticket: t, data: MailData{Reason: reason, Claimed: in.From.Display()},
		item: fmt.Sprintf("%s: %s", in.From.Email, reason), period: time.Hour})
}

// attach links a stored message to a ticket and remembers its Message-ID.
func (s *Store) attach(ctx context.Context, tx pgx.Tx, t *Ticket, in *Inbound, msgRef int64) error {
	if _, err := tx.Exec(ctx, `UPDATE messages SET ticket_id = $1 WHERE id = $2`, t.ID, msgRef); err != nil {
		return fmt.Errorf("attach message %d to ticket %d: %w", msgRef, t.ID, err)
	}
	return addThreadID(ctx, tx, t.ID, in.MessageID)
}

// aligned reports whether email's domain equals, or is a subdomain of, one
// of the authenticated domains, within one organisation: a public suffix
// ("test", "co.uk") vouches for nobody under it.
func aligned(email string, domains []string) bool {
	_, d, ok := strings.Cut(strings.ToLower(email), "@")
	if !ok {
		return false
	}
	org, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return false
	}
	for _, pass := range domains {
		pass = strings.ToLower(strings.TrimPrefix(pass, "@"))
		if d != pass && !strings.HasSuffix(d, "."+pass) {
			continue
		}
		if passOrg, err := publicsuffix.EffectiveTLDPlusOne(pass); err == nil && passOrg == org {
			return true
		}
	}
	return false
}

// respond records an agent's public response and mails it to the customer
// and collaborators. The first response meets the first-response target.
func (s *Store) respond(ctx context.Context, tx pgx.Tx, t *Ticket, agent *staff, body string, msgRef int64, inReplyTo string, now time.Time) error {
	if err := addEntry(ctx, tx, t.ID, entry{kind: EntryResponse, agentID: agent.id, body: body, messageRef: msgRef}, now); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE tickets SET first_responded_at = coalesce(first_responded_at, $2), updated_at = $2 WHERE id = $1`,
		t.ID, now); err != nil {
		return fmt.Errorf("record response on %d: %w", t.Number, err)
	}
	// The first response meets its target: its ladder steps no longer apply.
	if err := s.resetSLA(ctx, tx, t.ID, now); err != nil {
		return err
	}
	// The agent's mail goes along, so its attachments reach the customer.
	return s.mailCustomers(ctx, tx, t, TemplateResponse, "", MailData{Body: body, Agent: agent.name, AuthorID: agent.id},
		msgRef, now)
}

// mailCustomers queues a mail to the customer and every collaborator.
// attach, if not 0, is the agent's stored message whose attachments go along.
func (s *Store) mailCustomers(ctx context.Context, tx pgx.Tx, t *Ticket, template, inReplyTo string, data MailData, attach int64, now time.Time) error {
	// One mail: the customer in To, the collaborators in Cc, as osTicket
	// does, so everyone sees who else has it and reply-all keeps them on.
	// A copy the brakes stop (an undeliverable address) is left out; when
	// the customer is, the first collaborator takes the To line.
	var to []Address
	for _, a := range append([]Address{t.Customer}, collaboratorAddresses(t)...) {
		reason := suppressed(a.Email)
		if reason == "" {
			var err error
			if reason, err = s.customerBrake(ctx, tx, outMail{ticket: t, template: template, to: a}, now); err != nil {
				return err
			}
		}
		if reason == "" {
			to = append(to, a)
			continue
		}
		if err := addEntry(ctx, tx, t.ID, entry{kind: EntryEvent, event: "mail_suppressed",
			data: map[string]any{"to": a.Email, "template": template, "reason": reason}}, now); err != nil {
			return err
		}
	}
	if len(to) == 0 {
		return nil
	}
	row, err := s.buildRow(outMail{ticket: t, template: template, to: to[0], cc: to[1:], inReplyTo: inReplyTo, data: data, attach: attach}, now)
	if err != nil {
		return err
	}
	return insertRows(ctx, tx, []outboxRow{row}, now)
}

func collaboratorAddresses(t *Ticket) []Address {
	out := make([]Address, len(t.Collaborators))
	for i, c := range t.Collaborators {
		out[i] = Address{Email: c}
	}
	return out
}

// addNote records an internal note and mails it to the assignee and the
// ticket's team, never to the customer.
func (s *Store) addNote(ctx context.Context, tx pgx.Tx, t *Ticket, author *staff, body string, msgRef int64, now time.Time) error {
	if err := addEntry(ctx, tx, t.ID, entry{kind: EntryNote, agentID: author.id, body: body, messageRef: msgRef}, now); err != nil {
		return err
	}
	list, err := agentsWhere(ctx, tx, `a.id <> $1 AND (a.id = $2 OR at.team_id = $3)`, author.id, t.assigneeID, t.teamID)
	if err != nil {
		return err
	}
	return s.mailAgents(ctx, tx, now, t, list, TemplateNote, "", MailData{Body: body, From: author.name})
}

// Act applies commands (and an optional response or note body) to a ticket
// as the agent with email asAgent: the admin CLI's path, the same as mail's.
func (s *Store) Act(ctx context.Context, number int64, asAgent string, cmds []Command, body string, now time.Time) ([]string, error) {
	var changes []string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		agent, err := agentByEmail(ctx, tx, asAgent)
		if err != nil {
			return err
		}
		if agent == nil {
			return fmt.Errorf("no active agent with email %q", asAgent)
		}
		t, err := ticketByNumber(ctx, tx, number, true)
		if err != nil {
			return err
		}
		if t == nil {
			return fmt.Errorf("ticket %d: %w", number, ErrNotFound)
		}
		changes, err = s.applyCommands(ctx, tx, t, agent, cmds, now)
		if err != nil {
			return err
		}
		if body == "" {
			// As by mail: resolving or closing without a word tells the
			// customer so.
			if (t.Status == StatusResolved || t.Status == StatusClosed) && !t.Spam && t.MergedInto == 0 {
				changes = append(changes, "customer told the ticket is "+string(t.Status))
				return s.mailCustomers(ctx, tx, t, TemplateResolved, "", MailData{}, 0, now)
			}
			return nil
		}
		if len(cmds) > 0 && cmds[len(cmds)-1].Name == "note" {
			return s.addNote(ctx, tx, t, agent, body, 0, now)
		}
		changes = append(changes, "response sent to "+t.Customer.Email)
		return s.respond(ctx, tx, t, agent, body, 0, "", now)
	})
	return changes, err
}
