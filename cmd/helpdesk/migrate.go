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
	if err := fs.Parse(args); err != nil {
		return &exitError{2, err}
	}
	_, db, err := openCommand(ctx, *cfgPath, stderr, true)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintf(stdout, "schema at version %d\n", core.SchemaVersion())
	return nil
}

func cmdCheckConfig(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return &exitError{2, fmt.Errorf("usage: helpdesk check-config FILE")}
	}
	cfg, err := CheckConfig(args[0])
	if err != nil {
		return &exitError{78, err}
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(stdout, "warning:", w)
	}
	fmt.Fprintf(stdout, "%s: ok (%d mailboxes, %d agents, %d teams, %d SLA plans, %d help topics)\n", args[0],
		len(cfg.Mailboxes), len(cfg.Agents), len(cfg.Teams), len(cfg.SLAPlans), len(cfg.HelpTopics))
	return nil
}
