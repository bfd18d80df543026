// Command helpdesk is an email-driven help desk: one binary for the daemon,
// migrations, pipe delivery from an MTA, the admin CLI and a demo.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"helpdesk/core"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

// buildVersion is the version set with -ldflags "-X main.version=…", else
// the module version or VCS revision Go recorded in the binary.
func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return "dev"
	}
	return "dev-" + rev[:min(12, len(rev))] + dirty
}

const usage = `helpdesk: an email-driven help desk

Usage:
  helpdesk demo [--keep]                       play osTicket's tutorial by mail on a private setup
  helpdesk serve [--config FILE]               run the daemon
  helpdesk migrate [--config FILE] [--dry-run] bring the database schema up to date (or list what would run)
  helpdesk check-config [FILE]                 validate a config file (--config, $HELPDESK_CONFIG or ./helpdesk.toml)
  helpdesk pipe [--config FILE] [--mailbox NAME] [--from-quoted]
                                               deliver one message from standard input (for an MTA)
  helpdesk ticket list [--status S] [--overdue] [--assignee A] [--team T] [--customer EMAIL] [--since D] [--limit N] [--after N] [--json]
  helpdesk ticket show N [--json]
  helpdesk ticket attachment N NAME [-o PATH]   save a customer's file
  helpdesk ticket assign|priority|sla|team|topic|cc|uncc N VALUE --as AGENT
  helpdesk ticket close|resolve|reopen N --as AGENT    the customer is told, as by mail
  helpdesk ticket reply N --as AGENT < response
  helpdesk ticket note N TEXT --as AGENT
  helpdesk agent list [--json]
  helpdesk report [--from D] [--to D] [--by plan|topic|team|agent] [--json|--csv]   how support did (default: the last 7 days)
  helpdesk explain FILE.eml [--mailbox NAME] [--json]   dry run: how intake would take a message
  helpdesk auth login|logout (--mailbox NAME | --smtp) [--port N]   OAuth2 sign-in (Microsoft 365, Google)
  helpdesk import --mailbox NAME                ingest a mailbox's backlog without acknowledging it
  helpdesk quarantine list|show ID|retry ID
  helpdesk spam list [--json] | show ID | release ID
  helpdesk messages list [--unthreaded] [--class C] [--json] | show ID   stored mail, e.g. what opened no ticket
  helpdesk purge [--dry-run]                   apply the [retention] periods (or show what they would remove)
  helpdesk customer export EMAIL [-o DIR] | erase EMAIL --as ADMIN   privacy requests
  helpdesk block add ADDRESS|@DOMAIN [--reason TEXT] | list [--json] | remove ADDRESS|@DOMAIN
  helpdesk version

The config file defaults to $HELPDESK_CONFIG, else ./helpdesk.toml if it exists.
With no database configured, helpdesk runs a private PostgreSQL in its data directory.
`

// exitError carries a process exit code (sysexits for pipe delivery).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "helpdesk:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

// run is the whole program; tests call it directly.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, stdin, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil // "helpdesk SUB --help" printed its usage, as asked
	}
	return err
}

func dispatch(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &exitError{2, errors.New("no command")}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "demo":
		return cmdDemo(ctx, rest, stdout, stderr)
	case "serve":
		return cmdServe(ctx, rest, stderr)
	case "migrate":
		return cmdMigrate(ctx, rest, stdout, stderr)
	case "check-config":
		return cmdCheckConfig(rest, stdout)
	case "pipe":
		return cmdPipe(ctx, rest, stdin, stderr)
	case "ticket":
		return cmdTicket(ctx, rest, stdin, stdout, stderr)
	case "explain":
		return cmdExplain(ctx, rest, stdout, stderr)
	case "quarantine":
		return cmdQuarantine(ctx, rest, stdout, stderr)
	case "import":
		return cmdImport(ctx, rest, stdout, stderr)
	case "spam":
		return cmdSpam(ctx, rest, stdout, stderr)
	case "block":
		return cmdBlock(ctx, rest, stdout, stderr)
	case "messages":
		return cmdMessages(ctx, rest, stdout, stderr)
	case "customer":
		return cmdCustomer(ctx, rest, stdout, stderr)
	case "purge":
		return cmdPurge(ctx, rest, stdout, stderr)
	case "agent":
		return cmdAgent(ctx, rest, stdout, stderr)
	case "auth":
		return cmdAuth(ctx, rest, stdout, stderr)
	case "report":
		return cmdReport(ctx, rest, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "helpdesk %s (schema %d)\n", buildVersion(), core.SchemaVersion())
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return &exitError{2, fmt.Errorf("unknown command %q", cmd)}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// newLogger logs text on a terminal and JSON otherwise (for journald and
// log shippers), unless the config says which.
func newLogger(w io.Writer, format string) *slog.Logger {
	if format == "" || format == "auto" {
		format = "json"
		if isTerminal(w) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}
