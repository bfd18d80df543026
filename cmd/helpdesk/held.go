package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// heldMail is a kind of mail kept out of the tickets (quarantined, spam):
// an admin lists it, prints one byte for byte, and takes one in.
type heldMail struct {
	name   string // the command: "spam", "quarantine"
	action string // the verb that takes a message in: "release", "retry"
	// list returns the messages for --json and as table rows.
	list   func(ctx context.Context, db *database) (any, []heldRow, error)
	raw    func(ctx context.Context, db *database, id int64) ([]byte, error)
	takeIn func(ctx context.Context, cfg *Config, db *database, id int64, stdout, stderr io.Writer) error
}

// runHeld runs "NAME list [--json] | show ID | ACTION ID".
func runHeld(ctx context.Context, h heldMail, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &exitError{2, fmt.Errorf("usage: helpdesk %s list [--json] | show ID | %s ID", h.name, h.action)}
	}
	fs := flag.NewFlagSet(h.name+" "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON (list)")
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return &exitError{2, err}
	}
	if args[0] != "list" && args[0] != "show" && args[0] != h.action {
		return &exitError{2, fmt.Errorf("unknown %s command %q", h.name, args[0])}
	}
	cfg, db, err := openCommand(ctx, *cfgPath, stderr, false)
	if err != nil {
		return err
	}
	defer db.Close()
	if args[0] == "list" {
		list, rows, err := h.list(ctx, db)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(stdout, list)
		}
		return writeHeldTable(stdout, rows)
	}
	id, err := idArgument(h.name+" "+args[0], pos)
	if err != nil {
		return err
	}
	if args[0] == "show" {
		raw, err := h.raw(ctx, db, id)
		if err != nil {
			return err
		}
		_, err = stdout.Write(raw) // byte for byte, as it arrived
		return err
	}
	return h.takeIn(ctx, cfg, db, id, stdout, stderr)
}

// heldRow is one line of the table for mail kept out of the tickets
// (quarantine and spam).
type heldRow struct {
	id      int64
	mailbox string
	size    int
	at      time.Time
	reason  string
}

func writeHeldTable(w io.Writer, rows []heldRow) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tMAILBOX\tSIZE\tRECEIVED\tREASON")
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\n", r.id, r.mailbox, r.size, r.at.Local().Format("2006-01-02 15:04"), r.reason)
	}
	return tw.Flush()
}
