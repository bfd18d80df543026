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
