package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"helpdesk/mailin"
)

// cmdImport ingests a configured mailbox's existing mail without
// acknowledging it, showing progress and a summary.
func cmdImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	name := fs.String("mailbox", "", "the mailbox (by its name in the config)")
	if err := fs.Parse(args); err != nil {
		return &exitError{2, err}
	}
	cfg, db, err := openCommand(ctx, *cfgPath, stderr, true)
	if err != nil {
		return err
	}
	if err := cfg.readMailSecrets(); err != nil {
		db.Close()
		return &exitError{78, err}
	}
	defer db.Close()
	idx := -1
	for i, m := range cfg.Mailboxes {
		if m.Name == *name {
			idx = i
		}
	}
	if idx < 0 {
		return &exitError{2, fmt.Errorf("no mailbox named %q in the config", *name)}
	}
	mb, err := cfg.Mailbox(ctx, db.Store, idx)
	if err != nil {
		return &exitError{78, err}
	}
	p := &mailin.Poller{Mailbox: mb, Intake: newIntake(cfg, db, newLogger(io.Discard, "text"))}
	progress := func(done, total int) {}
	if isTerminal(stderr) { // a bar of carriage returns only where a person watches
		progress = func(done, total int) {
			const width = 30
			fill := width * done / total
			fmt.Fprintf(stderr, "\r[%s%s] %d/%d", strings.Repeat("=", fill), strings.Repeat(" ", width-fill), done, total)
		}
	}
	sum, err := p.Import(ctx, progress)
	if isTerminal(stderr) {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported %d messages from %s: %d new tickets, %d replies, %d machine mails, %d already stored, %d quarantined; nobody was mailed\n",
		sum.Messages, *name, sum.Tickets, sum.Replies, sum.Machine, sum.Duplicates, sum.Quarantined)
	return nil
}
