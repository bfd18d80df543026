package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"helpdesk/core"
)

// ticketActions maps each "ticket ACTION" to the mail command it runs and
// what it takes: the command line is the mail commands' twin.
var ticketActions = map[string]string{
	"assign": " AGENT", "priority": " PRIORITY", "sla": " PLAN", "team": " TEAM", "topic": " TOPIC", "cc": " ADDRESS",
	"uncc": " ADDRESS", "note": " TEXT", "close": "", "resolve": "", "reopen": "", "reply": " (the response on standard input)",
}

// actionNames lists the ticket actions, sorted.
func actionNames() []string {
	names := make([]string, 0, len(ticketActions))
	for n := range ticketActions {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ticketAction runs "ticket ACTION N [ARG] --as AGENT": the same core
// operations as an agent's mail commands, each an event on the thread with
// the acting agent named; reply sends standard input to the customer.
func ticketAction(ctx context.Context, action string, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ticket "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	as := fs.String("as", "", "the agent acting (email); required")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return &exitError{2, err}
	}
	usage := fmt.Errorf("usage: helpdesk ticket %s N%s --as AGENT", action, ticketActions[action])
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
	case "assign", "priority", "sla", "team", "topic", "cc", "uncc":
		if arg == "" {
			return &exitError{2, usage}
		}
		cmds = []core.Command{{Name: action, Args: []string{arg}, Raw: "/" + action + " " + arg}}
	case "close", "resolve", "reopen":
		cmds = []core.Command{{Name: action, Raw: "/" + action}}
	case "note":
		if arg == "" {
			return &exitError{2, usage}
		}
		cmds, body = []core.Command{{Name: "note", Raw: "/note"}}, arg
	case "reply":
		b, err := io.ReadAll(io.LimitReader(stdin, 1<<20))
		if err != nil {
			return fmt.Errorf("read the response: %w", err)
		}
		if body = strings.TrimSpace(string(b)); body == "" {
			return &exitError{2, fmt.Errorf("ticket reply: the response comes on standard input, and it is empty")}
		}
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
