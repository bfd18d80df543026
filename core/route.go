package core

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// route is what a help topic decides about a new ticket.
type route struct {
	topic, sla, team     string
	topicID, slaID       *int64
	departmentID, teamID *int64
	assigneeID           *int64
	assignee             *Address
	priority             Priority
}

// loadRoute reads a help topic's routing. An unknown or empty topic routes
// nowhere: normal priority, no SLA plan, no assignee; admins get the alert.
func loadRoute(ctx context.Context, tx pgx.Tx, topic string) (route, error) {
	r := route{priority: PriorityNormal}
	if topic == "" {
		return r, nil
	}
	var aName, aEmail *string
	err := tx.QueryRow(ctx, `
		SELECT h.name, h.id, h.priority, p.id, coalesce(p.name, ''),
			h.department_id, h.team_id, coalesce(tm.name, ''), h.assignee_id, a.name, a.email
		FROM help_topics h
		LEFT JOIN sla_plans p ON p.id = h.sla_plan_id
		LEFT JOIN teams tm ON tm.id = h.team_id
		LEFT JOIN agents a ON a.id = h.assignee_id AND a.active
		WHERE lower(h.name) = lower($1)`, topic).Scan(
		&r.topic, &r.topicID, &r.priority, &r.slaID, &r.sla,
		&r.departmentID, &r.teamID, &r.team, &r.assigneeID, &aName, &aEmail)
	if errors.Is(err, pgx.ErrNoRows) {
		return route{priority: PriorityNormal}, nil
	}
	if err != nil {
		return r, fmt.Errorf("load help topic %q: %w", topic, err)
	}
	if aEmail != nil {
		r.assignee = &Address{Name: *aName, Email: *aEmail}
	} else {
		r.assigneeID = nil
	}
	return r, nil
}

// createdData is the created event's data for a ticket routed by r.
func (r route) createdData() map[string]any {
	d := map[string]any{"priority": string(r.priority)}
	if r.topic != "" {
		d["help_topic"] = r.topic
	}
	if r.sla != "" {
		d["sla_plan"] = r.sla
	}
	return d
}

// routedData is the routed event's data: what the topic decided, and the
// rule that chose the topic.
func (r route) routedData(rule string) map[string]any {
	d := map[string]any{"help_topic": r.topic, "rule": rule}
	if r.team != "" {
		d["team"] = r.team
	}
	if r.assignee != nil {
		d["assignee"] = r.assignee.Email
	}
	return d
}
