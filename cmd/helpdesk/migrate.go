package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"helpdesk/core"
)

func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	dryRun := fs.Bool("dry-run", false, "list the migrations that would run, and run none")
	if err := fs.Parse(args); err != nil {
		return &exitError{2, err}
	}
	mode := schemaMigrate
	if *dryRun {
		mode = schemaAsIs
	}
	_, db, err := openCommandMode(ctx, *cfgPath, stderr, mode)
	if err != nil {
		return err
	}
	defer db.Close()
	if *dryRun {
		pending, err := db.PendingMigrations(ctx)
		if err != nil {
			return err
		}
		if len(pending) == 0 {
			fmt.Fprintf(stdout, "schema at version %d: nothing to do\n", core.SchemaVersion())
		}
		for _, m := range pending {
			fmt.Fprintf(stdout, "would apply %s\n", m)
		}
		return nil
	}
	fmt.Fprintf(stdout, "schema at version %d\n", core.SchemaVersion())
	return nil
}

func cmdCheckConfig(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stdout)
	cfgPath := configFlag(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return &exitError{2, err}
	}
	path := configPath(*cfgPath)
	switch {
	case len(pos) == 1:
		path = pos[0]
	case len(pos) > 1 || path == "":
		return &exitError{2, fmt.Errorf("usage: helpdesk check-config [FILE | --config FILE] (default $HELPDESK_CONFIG, else ./helpdesk.toml)")}
	}
	args = []string{path}
	cfg, err := CheckConfig(args[0])
	if err != nil {
		return &exitError{78, err}
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(stdout, "warning:", w)
	}
	fmt.Fprintf(stdout, "%s: ok (%d mailboxes, %d agents, %d teams, %d SLA plans, %d help topics)\n", args[0],
		len(cfg.Mailboxes), len(cfg.Agents), len(cfg.Teams), len(cfg.SLAPlans), len(cfg.HelpTopics))
	for _, n := range cfg.Next {
		fmt.Fprintln(stdout, "next:", n)
	}
	return nil
}
