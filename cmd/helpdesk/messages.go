package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"helpdesk/core"
)

// cmdMessages lists stored messages and prints one: how an admin finds the
// mail that opened no ticket (machine mail, no-reply senders, spam).
func cmdMessages(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &exitError{2, fmt.Errorf("usage: helpdesk messages list [--unthreaded] [--class C] [--limit N] [--json] | show ID")}
	}
	fs := flag.NewFlagSet("messages "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON (list)")
	unthreaded := fs.Bool("unthreaded", false, "only messages on no ticket")
	class := fs.String("class", "", "only this class: human, autoreply, bounce, receipt, abuse, loop, spam")
	limit := fs.Int("limit", 100, "at most this many, newest first")
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return &exitError{2, err}
	}
	_, db, err := openCommand(ctx, *cfgPath, stderr, false)
	if err != nil {
		return err
	}
	defer db.Close()
	switch args[0] {
	case "list":
		list, err := db.Messages(ctx, core.MessageFilter{Class: core.Class(*class), Unthreaded: *unthreaded, Limit: *limit})
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(stdout, list)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tRECEIVED\tCLASS\tTICKET\tMAILBOX\tMESSAGE-ID\tNOTE")
		for _, m := range list {
			ticket := "-"
			if m.Ticket != 0 {
				ticket = core.SubjectTag(m.Ticket)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, m.ReceivedAt.Local().Format("2006-01-02 15:04"), m.Class, ticket,
				m.Mailbox, m.MessageID, m.Note)
		}
		return tw.Flush()
	case "show":
		id, err := idArgument("messages show", pos)
		if err != nil {
			return err
		}
		raw, err := db.MessageRaw(ctx, id)
		if err != nil {
			return err
		}
		_, err = stdout.Write(raw)
		return err
	}
	return &exitError{2, fmt.Errorf("unknown messages command %q", args[0])}
}

// idArgument reads the one numeric ID a subcommand such as "spam show"
// takes; a missing or malformed ID is a usage error.
func idArgument(command string, pos []string) (int64, error) {
	if len(pos) != 1 {
		return 0, &exitError{2, fmt.Errorf("usage: helpdesk %s ID", command)}
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil {
		return 0, &exitError{2, fmt.Errorf("%s: id %q: %w", command, pos[0], err)}
	}
	return id, nil
}
