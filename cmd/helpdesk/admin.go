package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"helpdesk/core"
)

// ticketAction runs "ticket assign|priority|sla|close|reopen|note N [ARG]
// --as AGENT": the same core operations as an agent's mail commands, each
// an event on the thread with the acting agent named.
func ticketAction(ctx context.Context, action string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ticket "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	as := fs.String("as", "", "the agent acting (email); required")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return &exitError{2, err}
	}
	usage := fmt.Errorf("usage: helpdesk ticket %s N%s --as AGENT", action, map[string]string{
		"assign": " AGENT", "priority": " PRIORITY", "sla": " PLAN", "note": " TEXT"}[action])
	if len(pos) == 0 || *as == "" {
		return &exitError{2, usage}
	}
	number, ok := parseTicketNumber(pos[0])
	if !ok {
		return &exitError{2, usage}
	}
	arg := strings.Join(pos[1:], " ")
	var cmds []core.Command
	body := ""
	switch action {
	case "assign", "priority", "sla":
		if arg == "" {
			return &exitError{2, usage}
		}
		cmds = []core.Command{{Name: action, Args: []string{arg}, Raw: "/" + action + " " + arg}}
	case "close", "reopen":
		cmds = []core.Command{{Name: action, Raw: "/" + action}}
	case "note":
		if arg == "" {
			return &exitError{2, usage}
		}
		cmds, body = []core.Command{{Name: "note", Raw: "/note"}}, arg
	}
	_, db, err := openCommand(ctx, *cfgPath, stderr, false)
	if err != nil {
		return err
	}
	defer db.Close()
	changes, err := db.Act(ctx, number, *as, cmds, body, time.Now())
	if err != nil {
		return err
	}
	for _, c := range changes {
		fmt.Fprintf(stdout, "%s %s\n", core.SubjectTag(number), c)
	}
	return nil
}

// parseInterleaved parses flags that may come before, between or after
// positional arguments, as people type them.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
