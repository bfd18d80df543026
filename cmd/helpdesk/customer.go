package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"helpdesk/mailin"
)

// cmdCustomer answers privacy requests: export a customer's data, or
// erase it.
func cmdCustomer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := fmt.Errorf("usage: helpdesk customer export EMAIL [-o DIR] | erase EMAIL --as ADMIN")
	if len(args) == 0 {
		return &exitError{2, usage}
	}
	fs := flag.NewFlagSet("customer "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	dir := fs.String("o", ".", "export: the directory to write customer.json and messages.mbox to")
	as := fs.String("as", "", "erase: the admin erasing (email)")
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return &exitError{2, err}
	}
	if len(pos) != 1 || (args[0] == "erase" && *as == "") {
		return &exitError{2, usage}
	}
	_, db, err := openCommand(ctx, *cfgPath, stderr, false)
	if err != nil {
		return err
	}
	defer db.Close()
	switch args[0] {
	case "export":
		return exportCustomer(ctx, db, pos[0], *dir, stdout)
	case "erase":
		n, err := db.EraseCustomer(ctx, pos[0], *as, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "erased %s: %d tickets keep their numbers and events, with the erasure recorded\n", pos[0], n)
		return nil
	}
	return &exitError{2, usage}
}

// exportCustomer writes DIR/customer.json (the customer, their tickets and
// threads) and DIR/messages.mbox (every message they sent, raw).
func exportCustomer(ctx context.Context, db *database, email, dir string, stdout io.Writer) error {
	x, err := db.ExportCustomer(ctx, email)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("export directory: %w", err)
	}
	b, err := json.MarshalIndent(x, "", "  ")
	if err != nil {
		return fmt.Errorf("encode export: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "customer.json"), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write export: %w", err)
	}
	var mbox bytes.Buffer
	for _, m := range x.Messages {
		mailin.AppendMbox(&mbox, email, m.ReceivedAt, m.Raw)
	}
	if err := os.WriteFile(filepath.Join(dir, "messages.mbox"), mbox.Bytes(), 0o600); err != nil {
		return fmt.Errorf("write export: %w", err)
	}
	fmt.Fprintf(stdout, "exported %s: %d tickets, %d messages to %s\n", email, len(x.Tickets), len(x.Messages), dir)
	return nil
}
