package templates

import (
	_ "embed"
	"html/template"
)

//go:embed status.page.html
var statusPage string

// StatusPage renders a customer's read-only view of their ticket. It has no
// scripts and reads well without its small stylesheet.
var StatusPage = template.Must(template.New("status").Parse(statusPage))

//go:embed dashboard.page.html
var dashboardPage string

// DashboardPage wraps the weekly report's HTML (rendered by its mail
// template, so mail and page show the same) in a page of its own.
var DashboardPage = template.Must(template.New("dashboard").Parse(dashboardPage))
