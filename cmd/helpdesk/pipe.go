package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"helpdesk/core"
	"helpdesk/mailin"
	"io"
	"log/slog"
	"runtime/debug"
	"time"
)

// Exit codes from sysexits.h: an MTA retries on EX_TEMPFAIL and bounces on
// the others, so a database outage must be 75, never a silent 0.
const (
	exUsage    = 64
	exDataErr  = 65
	exIOErr    = 74
	exTempFail = 75
	exConfig   = 78
)

// pipeHardCap is the most pipe delivery keeps: a larger message is refused
// (EX_DATAERR, the MTA bounces it). PostgreSQL values stop at 1 GB.
const pipeHardCap = 1 << 30

func cmdPipe(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer) error {
	fs := flag.NewFlagSet("pipe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	mailbox := fs.String("mailbox", "pipe", "mailbox name recorded with the message; its default_topic applies")
	fromQuoted := fs.Bool("from-quoted", false, `undo mbox ">From " quoting of body lines (Postfix pipe(8) with the ">" flag)`)
	if err := fs.Parse(args); err != nil {
		return &exitError{exUsage, err}
	}
	// Only the desk's secret is read: SMTP and IMAP passwords are not this
	// command's business, and an unreadable one must not bounce mail.
	cfg, err := loadConfigFrom(*cfgPath)
	if err != nil {
		return &exitError{exConfig, err}
	}
	if flagSet(fs, "mailbox") {
		if err := cfg.CheckMailbox(*mailbox); err != nil {
			// Temporary, so the MTA keeps the mail while the alias is fixed.
			return &exitError{exTempFail, err}
		}
	}
	log := newLogger(stderr, cfg.LogFormat)
	// One message, then exit: collect garbage eagerly, so a large message
	// does not leave copies of itself lying around until the process ends.
	debug.SetGCPercent(20)
	in := mailin.EnvelopeReader(stdin, *fromQuoted)
	limit := cfg.IntakeLimits().MaxBytes
	raw, err := readAll(in, limit+1)
	if err != nil {
		return &exitError{exIOErr, fmt.Errorf("read message: %w", err)}
	}
	db, err := openDatabase(ctx, cfg, log, schemaCurrent)
	if err != nil {
		return &exitError{exTempFail, err}
	}
	defer db.Close()
	if int64(len(raw)) > limit {
		return spoolOversized(ctx, db, *mailbox, limit, io.MultiReader(bytes.NewReader(raw), in), log)
	}
	src := cfg.Source(*mailbox)
	intake := newIntake(cfg, db, log)
	// Deliver quarantines what it cannot parse, so an error here means the
	// message was not stored: the database is down, or something unexpected.
	// Either way the MTA keeping it and retrying beats losing it.
	if _, err := intake.Deliver(ctx, src, raw); err != nil {
		return &exitError{exTempFail, err}
	}
	return nil
}

// spoolOversized quarantines a message over the size limit straight from
// the MTA's stream, never holding it whole.
func spoolOversized(ctx context.Context, db *database, mailbox string, limit int64, r io.Reader, log *slog.Logger) error {
	reason := fmt.Sprintf("message over limit: more than %d bytes", limit)
	id, err := db.QuarantineStream(ctx, mailbox, reason, r, pipeHardCap, time.Now())
	switch {
	case errors.Is(err, core.ErrTooLarge):
		return &exitError{exDataErr, fmt.Errorf("refused: %w", err)}
	case err != nil:
		return &exitError{exTempFail, err}
	}
	log.Warn("message quarantined", "mailbox", mailbox, "reason", reason, "quarantine", id)
	return nil
}

// readAll reads up to max bytes into one exactly sized slice. Unlike
// io.ReadAll, whose doubling leaves up to twice the message behind as
// garbage, it reads in chunks, joins them once and hands the chunks back to
// the OS: a 25 MB message costs about 25 MB, not 75.
func readAll(r io.Reader, max int64) ([]byte, error) {
	var chunks [][]byte
	total := 0
	for int64(total) < max {
		chunk := make([]byte, min(1<<20, max-int64(total)))
		n, err := io.ReadFull(r, chunk)
		chunks, total = append(chunks, chunk[:n]), total+n
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	raw := make([]byte, 0, total)
	for _, c := range chunks {
		raw = append(raw, c...)
	}
	chunks = nil
	debug.FreeOSMemory()
	return raw, nil
}

// flagSet reports whether the command line gave flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
