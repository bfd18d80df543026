package core

import (
	"fmt"
	"sort"
	"strings"
	"text/template"
)

// parseCanned parses the canned responses (name → text/template source).
func parseCanned(src map[string]string) (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for name, text := range src {
		t, err := template.New(name).Option("missingkey=error").Parse(text)
		if err != nil {
			return nil, fmt.Errorf("canned response %s: %w", name, err)
		}
		out[strings.ToLower(name)] = t
	}
	return out, nil
}

// cannedNames lists the canned responses, for error messages.
func (s *Store) cannedNames() string {
	var names []string
	for n := range s.canned {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "none are configured"
	}
	return "known: " + strings.Join(names, ", ")
}

// checkCanned is /reply NAME as a command: it only checks the name; the
// text joins the response (see cannedReply).
func (s *Store) checkCanned(c Command) (string, error) {
	name, err := oneArg(c)
	if err != nil {
		return "", err
	}
	if _, ok := s.canned[strings.ToLower(name)]; !ok {
		return "", fmt.Errorf("no canned response %q (%s)", name, s.cannedNames())
	}
	return "canned response " + strings.ToLower(name), nil
}

// cannedReply renders the canned response a /reply command in cmds names,
// over the ticket's fields; "" when there is none.
func (s *Store) cannedReply(t *Ticket, agent *staff, cmds []Command) (string, error) {
	for _, c := range cmds {
		if c.Name != "reply" || len(c.Args) == 0 {
			continue
		}
		tpl, ok := s.canned[strings.ToLower(strings.Join(c.Args, " "))]
		if !ok {
			return "", fmt.Errorf("no canned response %q", strings.Join(c.Args, " "))
		}
		var b strings.Builder
		err := tpl.Execute(&b, map[string]any{"Number": t.Number, "Subject": t.Subject, "Status": string(t.Status),
			"Priority": string(t.Priority), "CustomerName": t.Customer.Name, "CustomerEmail": t.Customer.Email, "Agent": agent.name})
		if err != nil {
			return "", fmt.Errorf("canned response %s: %w", c.Args[0], err)
		}
		return strings.TrimSpace(b.String()), nil
	}
	return "", nil
}
