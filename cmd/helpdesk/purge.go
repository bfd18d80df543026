package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"helpdesk/core"
)

// purgeBatch is how many rows of each kind one purge transaction removes.
const purgeBatch = 500

// cmdPurge applies the retention periods now, or with --dry-run shows
// what they would remove.
func cmdPurge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("purge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	dryRun := fs.Bool("dry-run", false, "show what would be removed, remove nothing")
	if err := fs.Parse(args); err != nil {
		return &exitError{2, err}
	}
	cfg, db, err := openCommand(ctx, *cfgPath, stderr, false)
	if err != nil {
		return err
	}
	defer db.Close()
	total, err := purgeAll(ctx, db.Store, cfg.RetentionPolicy(), *dryRun, time.Now())
	if err != nil {
		return err
	}
	verb := "purged"
	if *dryRun {
		verb = "would purge"
	}
	fmt.Fprintf(stdout, "%s: %d raw originals, %d sent mail bodies, %d quarantined messages\n", verb, total.Raw, total.SentMail, total.Quarantine)
	return nil
}

// purgeAll runs purge batches until nothing is left (one counting pass
// for a dry run).
func purgeAll(ctx context.Context, db *core.Store, r core.Retention, dryRun bool, now time.Time) (core.PurgeCounts, error) {
	var total core.PurgeCounts
	for ctx.Err() == nil {
		c, err := db.Purge(ctx, r, purgeBatch, dryRun, now)
		if err != nil {
			return total, err
		}
		total.Raw, total.SentMail, total.Quarantine = total.Raw+c.Raw, total.SentMail+c.SentMail, total.Quarantine+c.Quarantine
		if dryRun || c == (core.PurgeCounts{}) {
			break
		}
	}
	return total, ctx.Err()
}
