package core

import (
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"
)

// Status is where a ticket is in its life.
type Status string

// The statuses a ticket moves through.
const (
	StatusOpen     Status = "open"
	StatusPending  Status = "pending" // waiting on the customer
	StatusResolved Status = "resolved"
	StatusClosed   Status = "closed"
)

// ParseStatus accepts a status name in any case.
func ParseStatus(s string) (Status, error) {
	switch st := Status(strings.ToLower(strings.TrimSpace(s))); st {
	case StatusOpen, StatusPending, StatusResolved, StatusClosed:
		return st, nil
	}
	return "", fmt.Errorf("unknown status %q (want open, pending, resolved or closed)", s)
}

// Priority is how urgent a ticket is.
type Priority string

// The priorities, lowest first.
const (
	PriorityLow       Priority = "low"
	PriorityNormal    Priority = "normal"
	PriorityHigh      Priority = "high"
	PriorityEmergency Priority = "emergency"
)

// ParsePriority accepts a priority name in any case.
func ParsePriority(s string) (Priority, error) {
	switch p := Priority(strings.ToLower(strings.TrimSpace(s))); p {
	case PriorityLow, PriorityNormal, PriorityHigh, PriorityEmergency:
		return p, nil
	}
	return "", fmt.Errorf("unknown priority %q (want low, normal, high or emergency)", s)
}

// EntryKind says what a thread entry is.
type EntryKind string

// The kinds of thread entry.
const (
	EntryMessage  EntryKind = "message"  // from the customer (or a collaborator)
	EntryResponse EntryKind = "response" // from an agent, public
	EntryNote     EntryKind = "note"     // from an agent, internal
	EntryEvent    EntryKind = "event"    // an action on the ticket
)

// Event names written on the thread.
const (
	EventCreated     = "created"
	EventAssigned    = "assigned"
	EventTeam        = "team"
	EventPriority    = "priority"
	EventSLA         = "sla"
	EventTopic       = "topic"
	EventStatus      = "status"
	EventOverdue     = "overdue"
	EventEscalated   = "escalated"
	EventResolved    = "resolved"
	EventClosed      = "closed"
	EventReopened    = "reopened"
	EventRouted      = "routed"
	EventMachineMail = "machine_mail"
	EventRateLimited = "rate_limited"
	EventSpam        = "spam"
)

// Address is a mailbox with an optional display name.
type Address struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email"`
}

// String is the address as a mail header carries it (RFC 5322): a name
// with commas, quotes, "@" or other specials is quoted, one outside ASCII
// is an RFC 2047 encoded word. net/mail does both; mailout parses it back.
func (a Address) String() string {
	if a.Name == "" {
		return a.Email
	}
	return (&mail.Address{Name: CleanLine(a.Name), Address: a.Email}).String()
}

// Display is the address as a person reads it in a mail's text: the name
// as it is, quoted only where a reader could misread where it ends.
func (a Address) Display() string {
	name := CleanLine(a.Name)
	switch {
	case name == "":
		return a.Email
	case strings.ContainsAny(name, `,;<>@"()[]:\`):
		return strconv.Quote(name) + " <" + a.Email + ">"
	}
	return name + " <" + a.Email + ">"
}

// Ticket is one customer request and everything known about it.
type Ticket struct {
	ID               int64      `json:"-"`
	Number           int64      `json:"number"`
	Subject          string     `json:"subject"`
	Status           Status     `json:"status"`
	Priority         Priority   `json:"priority"`
	Customer         Address    `json:"customer"`
	HelpTopic        string     `json:"help_topic,omitempty"`
	Department       string     `json:"department,omitempty"`
	Team             string     `json:"team,omitempty"`
	Assignee         *Address   `json:"assignee,omitempty"`
	SLAPlan          string     `json:"sla_plan,omitempty"`
	FirstResponseDue *time.Time `json:"first_response_due,omitempty"`
	ResolutionDue    *time.Time `json:"resolution_due,omitempty"`
	FirstRespondedAt *time.Time `json:"first_responded_at,omitempty"`
	Overdue          bool       `json:"overdue"`
	// SLAState is "running", "paused" (a pausing status) or "stopped"
	// (resolved, closed, or no plan); NextEscalationAt is the next ladder step.
	SLAState         string     `json:"sla_state"`
	NextEscalationAt *time.Time `json:"next_escalation_at,omitempty"`
	Collaborators    []string   `json:"collaborators"`
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        time.Time  `json:"updated_at"`
	ResolvedAt       *time.Time `json:"resolved_at,omitempty"`
	ClosedAt         *time.Time `json:"closed_at,omitempty"`
	RootMessageID    string     `json:"-"`

	// Spam: an agent called it spam (/spam); nothing answers it.
	Spam bool `json:"spam,omitempty"`
	// MergedInto is the ticket this one was merged into (/merge), or 0;
	// Linked are the tickets related to it (/link).
	MergedInto int64   `json:"merged_into,omitempty"`
	Linked     []int64 `json:"linked,omitempty"`
	// Mailbox is the mailbox the ticket came in on; its mail goes out from
	// that mailbox's address.
	Mailbox string `json:"mailbox,omitempty"`

	customerID, assigneeID, teamID, departmentID, slaID int64
}

// Tag is the subject tag that identifies the ticket in mail, "[#1001]".
func (t *Ticket) Tag() string { return SubjectTag(t.Number) }

// Entry is one item on a ticket's thread.
type Entry struct {
	ID        int64          `json:"id"`
	Kind      EntryKind      `json:"kind"`
	Event     string         `json:"event,omitempty"`
	Author    string         `json:"author"`
	Body      string         `json:"body,omitempty"`
	Data      map[string]any `json:"data,omitempty"`
	CreatedAt time.Time      `json:"created_at"`
	// Attachments are the files of the message the entry records.
	Attachments []Attachment `json:"attachments,omitempty"`
}

// Thread is a ticket with its entries, oldest first.
type Thread struct {
	Ticket  Ticket  `json:"ticket"`
	Entries []Entry `json:"entries"`
}
