// Package mailout sends helpdesk's mail: it claims outbox rows, renders their
// templates, builds MIME messages and delivers them over SMTP with retries.
package mailout

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"

	"helpdesk/core"
	"helpdesk/templates"
)

// Templates is the parsed, complete set of mail templates.
type Templates struct {
	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template
}

// LoadTemplates parses the built-in templates, each replaced by a file of the
// same name in overrideDir when one exists, and checks every mail helpdesk
// sends has both a text and an HTML template with a subject.
func LoadTemplates(overrideDir string) (*Templates, error) {
	t := &Templates{text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	read := func(name string) (string, error) {
		if overrideDir != "" {
			b, err := os.ReadFile(filepath.Join(overrideDir, name))
			if err == nil {
				return string(b), nil
			}
			if !os.IsNotExist(err) {
				return "", err
			}
		}
		b, err := fs.ReadFile(templates.FS, name)
		return string(b), err
	}
	for _, name := range core.Templates {
		src, err := read(name + ".txt.tmpl")
		if err != nil {
			return nil, fmt.Errorf("template %s.txt.tmpl: %w", name, err)
		}
		tt, err := texttemplate.New(name).Option("missingkey=zero").Parse(src)
		if err != nil {
			return nil, fmt.Errorf("template %s.txt.tmpl: %w", name, err)
		}
		if tt.Lookup("subject") == nil {
			return nil, fmt.Errorf("template %s.txt.tmpl: no {{define \"subject\"}}", name)
		}
		src, err = read(name + ".html.tmpl")
		if err != nil {
			return nil, fmt.Errorf("template %s.html.tmpl: %w", name, err)
		}
		ht, err := htmltemplate.New(name).Option("missingkey=zero").Parse(src)
		if err != nil {
			return nil, fmt.Errorf("template %s.html.tmpl: %w", name, err)
		}
		t.text[name], t.html[name] = tt, ht
		// A field the mail data lacks fails here, at start, not when the
		// first such mail is due.
		if _, err := t.Render(name, core.MailData{}); err != nil {
			return nil, fmt.Errorf("template %s: %w", name, err)
		}
	}
	return t, nil
}

// Rendered is a mail's subject and bodies.
type Rendered struct {
	Subject, Text, HTML string
}

// Render fills a template with data.
func (t *Templates) Render(name string, data core.MailData) (Rendered, error) {
	tt, ok := t.text[name]
	if !ok {
		return Rendered{}, fmt.Errorf("no template %q", name)
	}
	var subj, text, html bytes.Buffer
	if err := tt.ExecuteTemplate(&subj, "subject", data); err != nil {
		return Rendered{}, fmt.Errorf("render %s subject: %w", name, err)
	}
	if err := tt.Execute(&text, data); err != nil {
		return Rendered{}, fmt.Errorf("render %s text: %w", name, err)
	}
	if err := t.html[name].Execute(&html, data); err != nil {
		return Rendered{}, fmt.Errorf("render %s html: %w", name, err)
	}
	return Rendered{
		Subject: oneLine(subj.String()),
		Text:    strings.ReplaceAll(text.String(), "<no value>", ""),
		HTML:    html.String(),
	}, nil
}

// oneLine folds every line break and control character to a space: a header
// value built from customer input must never start a new header.
func oneLine(s string) string {
	s = strings.ReplaceAll(s, "<no value>", "")
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }), " ")
}
