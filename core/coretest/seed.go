package coretest

import (
	"context"
	"testing"
	"time"

	"helpdesk/core"
)

// Seed is the organisation of osTicket's tutorial, as helpdesk.example.toml
// declares it: an admin, Garnet on Level 1 Support, and SEV-A/B/C.
var Seed = core.Directory{
	Departments: []core.Department{{Name: "Support"}},
	Teams:       []core.Team{{Name: "Level 1 Support", Department: "Support"}},
	Agents: []core.Agent{
		{Email: "admin@desk.test", Name: "Ada Admin", Role: core.RoleAdmin},
		{Email: "garnet@desk.test", Name: "Garnet", Role: core.RoleAgent, Teams: []string{"Level 1 Support"}},
	},
	SLAPlans: []core.SLAPlan{
		{Name: "SEV-A", FirstResponse: time.Hour, Resolution: 4 * time.Hour},
		{Name: "SEV-B", FirstResponse: 4 * time.Hour, Resolution: 24 * time.Hour},
		{Name: "SEV-C", FirstResponse: 24 * time.Hour, Resolution: 72 * time.Hour},
	},
	HelpTopics: []core.HelpTopic{
		{Name: "SEV-A", SLAPlan: "SEV-A", Priority: core.PriorityEmergency, Department: "Support", Assignee: "admin@desk.test"},
		{Name: "SEV-B", SLAPlan: "SEV-B", Priority: core.PriorityHigh, Department: "Support", Team: "Level 1 Support"},
		{Name: "SEV-C", SLAPlan: "SEV-C", Priority: core.PriorityLow, Department: "Support", Team: "Level 1 Support"},
	},
}

// SeededStore opens a fresh store holding the Seed organisation.
func SeededStore(t testing.TB) *core.Store {
	t.Helper()
	s := NewStore(t)
	if err := s.SyncDirectory(context.Background(), Seed); err != nil {
		t.Fatalf("sync seed directory: %v", err)
	}
	return s
}
