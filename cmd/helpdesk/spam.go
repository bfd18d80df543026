package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"helpdesk/core"
)

// cmdSpam lists, shows and releases mail judged spam.
func cmdSpam(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runHeld(ctx, heldMail{name: "spam", action: "release",
		list: func(ctx context.Context, db *database) (any, []heldRow, error) {
			list, err := db.SpamList(ctx)
			rows := make([]heldRow, len(list))
			for i, m := range list {
				rows[i] = heldRow{m.ID, m.Mailbox, m.Size, m.ReceivedAt, m.Note}
			}
			return list, rows, err
		},
		raw: func(ctx context.Context, db *database, id int64) ([]byte, error) {
			m, err := db.SpamGet(ctx, id)
			if err != nil {
				return nil, err
			}
			return m.Raw, nil
		},
		takeIn: func(ctx context.Context, cfg *Config, db *database, id int64, stdout, stderr io.Writer) error {
			m, err := db.SpamGet(ctx, id)
			if err != nil {
				return err
			}
			return releaseSpam(ctx, cfg, db, m, stdout, stderr)
		},
	}, args, stdout, stderr)
}

// releaseSpam takes a message wrongly judged spam in as if it had just
// arrived: parsed again, its verdict set aside, threaded or opening a ticket.
func releaseSpam(ctx context.Context, cfg *Config, db *database, m *core.SpamMessage, stdout, stderr io.Writer) error {
	intake := newIntake(cfg, db, newLogger(stderr, cfg.LogFormat))
	intake.Spam = nil // an admin judged it
	p, err := intake.Prepare(cfg.Source(m.Mailbox), m.Raw)
	if err != nil {
		return fmt.Errorf("release spam message %d: %w", m.ID, err)
	}
	if p.Class == core.ClassSpam { // blocked sender: the admin's release wins
		p.Class = core.ClassHuman
	}
	res, err := db.SpamRelease(ctx, m.ID, p.Inbound, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "message %d released: %s\n", m.ID, res.Action)
	return nil
}

// cmdBlock adds, lists and removes blocked senders.
func cmdBlock(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &exitError{2, fmt.Errorf("usage: helpdesk block add ADDRESS|@DOMAIN [--reason TEXT] | list [--json] | remove ADDRESS|@DOMAIN")}
	}
	fs := flag.NewFlagSet("block "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON (list)")
	reason := fs.String("reason", "", "why (add)")
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
		list, err := db.Blocks(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(stdout, list)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PATTERN\tSINCE\tBY\tREASON")
		for _, b := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", b.Pattern, b.CreatedAt.Local().Format("2006-01-02 15:04"), b.CreatedBy, b.Reason)
		}
		return tw.Flush()
	case "add", "remove":
		if len(pos) != 1 {
			return &exitError{2, fmt.Errorf("usage: helpdesk block %s ADDRESS|@DOMAIN", args[0])}
		}
		if args[0] == "add" {
			err = db.AddBlock(ctx, core.Block{Pattern: pos[0], Reason: *reason, CreatedBy: "command line"}, time.Now())
		} else {
			err = db.RemoveBlock(ctx, pos[0])
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s\n", args[0], pos[0])
		return nil
	}
	return &exitError{2, fmt.Errorf("unknown block command %q", args[0])}
}
