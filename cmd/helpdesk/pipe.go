package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
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

// pipeHardCap is the most pipe delivery reads into memory.
const pipeHardCap = 1 << 30

func cmdPipe(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer) error {
	fs := flag.NewFlagSet("pipe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	mailbox := fs.String("mailbox", "pipe", "mailbox name recorded with the message; its default_topic applies")
	if err := fs.Parse(args); err != nil {
		return &exitError{exUsage, err}
	}
	cfg, err := loadConfigFrom(*cfgPath)
	if err != nil {
		return &exitError{exConfig, err}
	}
	log := newLogger(stderr, cfg.LogFormat)
	// One message, then exit: collect garbage eagerly, so a large message
	// does not leave copies of itself lying around until the process ends.
	debug.SetGCPercent(20)
	// Read the whole message, even past the limit: an oversized message is
	// quarantined whole, never truncated. Past a hard cap the MTA bounces it
	// to the sender, which is no silent loss either.
	raw, err := readAll(stdin, pipeHardCap+1)
	if err != nil {
		return &exitError{exIOErr, fmt.Errorf("read message: %w", err)}
	}
	if int64(len(raw)) > pipeHardCap {
		return &exitError{exDataErr, fmt.Errorf("message larger than %d bytes: refused", int64(pipeHardCap))}
	}
	db, err := openDatabase(ctx, cfg, log, false)
	if err != nil {
		return &exitError{exTempFail, err}
	}
	defer db.Close()
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

// readAll reads up to max bytes into one exactly sized slice. Unlike
// io.ReadAll, whose doubling leaves up to twice the message behind as
// garbage, it reads in chunks, joins them once and hands the chunks back to
// the OS: a 25 MB message costs about 25 MB, not 75.
func readAll(r io.Reader, max int64) ([]byte, error) {
	var chunks [][]byte
	total := 0
	for int64(total) < max {
		chunk := make([]byte, 1<<20)
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
