package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"helpdesk/mailin"
)

// cmdQuarantine lists, shows and retries messages intake set aside.
func cmdQuarantine(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runHeld(ctx, heldMail{name: "quarantine", action: "retry",
		list: func(ctx context.Context, db *database) (any, []heldRow, error) {
			list, err := db.QuarantineList(ctx)
			rows := make([]heldRow, len(list))
			for i, q := range list {
				rows[i] = heldRow{q.ID, q.Mailbox, q.Size, q.CreatedAt, q.Reason}
			}
			return list, rows, err
		},
		raw: func(ctx context.Context, db *database, id int64) ([]byte, error) {
			q, err := db.QuarantineGet(ctx, id)
			if err != nil {
				return nil, err
			}
			return q.Raw, nil
		},
		takeIn: retryQuarantined,
	}, args, stdout, stderr)
}

// retryQuarantined takes a set-aside message in after its cause is fixed
// (a limit raised): it goes through the normal path, and parsing it again
// must now succeed.
func retryQuarantined(ctx context.Context, cfg *Config, db *database, id int64, stdout, stderr io.Writer) error {
	q, err := db.QuarantineGet(ctx, id)
	if err != nil {
		return err
	}
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
