package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"helpdesk/mailin"
)

// cmdQuarantine lists, shows and retries messages intake set aside.
func cmdQuarantine(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &exitError{2, fmt.Errorf("usage: helpdesk quarantine list|show ID|retry ID")}
	}
	fs := flag.NewFlagSet("quarantine "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON (list)")
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return &exitError{2, err}
	}
	cfg, db, err := openCommand(ctx, *cfgPath, stderr, false)
	if err != nil {
		return err
	}
	defer db.Close()
	switch args[0] {
	case "list":
		list, err := db.QuarantineList(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(stdout, list)
		}
		rows := make([]heldRow, len(list))
		for i, q := range list {
			rows[i] = heldRow{q.ID, q.Mailbox, q.Size, q.CreatedAt, q.Reason}
		}
		return writeHeldTable(stdout, rows)
	case "show", "retry":
		id, err := idArgument("quarantine "+args[0], pos)
		if err != nil {
			return err
		}
		q, err := db.QuarantineGet(ctx, id)
		if err != nil {
			return err
		}
		if args[0] == "show" {
			// The raw message, byte for byte, as it arrived.
			_, err := stdout.Write(q.Raw)
			return err
		}
		// Retry after raising a limit or fixing the cause: the message goes
		// through the normal path; parsing it again must now succeed.
		intake := newIntake(cfg, db, newLogger(stderr, cfg.LogFormat))
		src := mailin.Source{Mailbox: q.Mailbox}
		if _, err := intake.Prepare(src, q.Raw); err != nil {
			return fmt.Errorf("still cannot take message %d in: %w", id, err)
		}
		out, err := intake.Deliver(ctx, src, q.Raw)
		if err != nil {
			return err
		}
		if err := db.QuarantineRelease(ctx, id, time.Now()); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "message %d taken in: %s\n", id, out.Action)
		return nil
	}
	return &exitError{2, fmt.Errorf("unknown quarantine command %q", args[0])}
}
