// Package migrations holds the numbered SQL files that build helpdesk's schema.
package migrations

import "embed"

// FS holds NNNN_name.sql files; core applies them in order, one transaction each.
//
//go:embed *.sql
var FS embed.FS
