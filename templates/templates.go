// Package templates holds the built-in mail templates: for each mail helpdesk
// sends, NAME.txt.tmpl (text/template, defining "subject" and the text body)
// and NAME.html.tmpl (html/template, the HTML body).
package templates

import "embed"

// FS holds the *.tmpl files. A directory named in the config may override any of them.
//
//go:embed *.tmpl
var FS embed.FS
