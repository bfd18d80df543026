package main

import (
	"context"
	"flag"
	"fmt"
	"helpdesk/core"
	"helpdesk/mailin"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// cmdExplain is a dry run of intake: how a message would be classified,
// threaded and routed, and why, without writing anything.
func cmdExplain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	mailbox := fs.String("mailbox", "", "the mailbox the message arrived in (its default topic applies)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return &exitError{2, err}
	}
	if len(pos) != 1 {
		return &exitError{2, fmt.Errorf("usage: helpdesk explain FILE.eml [--mailbox NAME] [--json]")}
	}
	raw, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	cfg, db, err := openCommand(ctx, *cfgPath, stderr, false)
	if err != nil {
		return err
	}
	defer db.Close()
	if *mailbox != "" {
		if err := cfg.CheckMailbox(*mailbox); err != nil {
			return &exitError{2, err}
		}
	}
	src := cfg.Source(*mailbox)
	intake := newIntake(cfg, db, newLogger(io.Discard, "text"))
	out := map[string]any{"file": pos[0]}
	msg, err := intake.Prepare(src, raw)
	if err != nil {
		out["outcome"] = "quarantine"
		out["reason"] = err.Error()
		if *asJSON {
			return writeJSON(stdout, out)
		}
		fmt.Fprintf(stdout, "%s: would be quarantined: %v\n", pos[0], err)
		return nil
	}
	ex, err := db.Explain(ctx, msg.Inbound)
	if err != nil {
		return err
	}
	var cmds []string
	for _, c := range msg.Commands {
		cmds = append(cmds, c.Raw)
	}
	addExplanation(out, msg, ex, cmds)
	if *asJSON {
		return writeJSON(stdout, out)
	}
	return printExplanation(stdout, msg, ex, cmds)
}

// addExplanation puts what intake would do with msg into out, the explain
// --json object.
func addExplanation(out map[string]any, msg *mailin.Prepared, ex core.Explanation, cmds []string) {
	// Absent optional fields are left out, as the README promises.
	for k, v := range map[string]any{"class": msg.Class, "class_reason": msg.ClassReason, "message_key": msg.Key(),
		"duplicate": ex.Duplicate, "ticket": ex.Ticket, "threading": ex.Threading, "help_topic": msg.Topic,
		"route_rule": msg.RouteRule, "from": msg.From.Email, "agent": ex.Agent, "commands": cmds} {
		switch x := v.(type) {
		case string:
			if x == "" {
				continue
			}
		case bool:
			if !x {
				continue
			}
		case int64:
			if x == 0 {
				continue
			}
		case []string:
			if len(x) == 0 {
				continue
			}
		}
		out[k] = v
	}
	if ex.Agent != "" {
		out["agent_verified"] = ex.Verified
	}
}

// printExplanation writes what intake would do with msg for a person.
func printExplanation(w io.Writer, msg *mailin.Prepared, ex core.Explanation, cmds []string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Message:\t%s\n", msg.Key())
	fmt.Fprintf(tw, "From:\t%s\n", msg.From)
	class := string(msg.Class)
	if msg.ClassReason != "" {
		class += " (" + msg.ClassReason + ")"
	}
	fmt.Fprintf(tw, "Class:\t%s\n", class)
	switch {
	case ex.Duplicate:
		fmt.Fprintf(tw, "Outcome:\talready stored: nothing would change\n")
	case ex.Ticket != 0:
		fmt.Fprintf(tw, "Outcome:\tjoins ticket [#%d] by %s\n", ex.Ticket, ex.Threading)
	default:
		fmt.Fprintf(tw, "Outcome:\t%s\n", ex.Threading)
	}
	if msg.Topic != "" {
		fmt.Fprintf(tw, "Help topic:\t%s (%s)\n", msg.Topic, msg.RouteRule)
	}
	if ex.Agent != "" {
		v := "NOT verified: kept as an internal record, no command runs"
		if ex.Verified {
			v = "verified"
		}
		fmt.Fprintf(tw, "Agent:\t%s, %s\n", ex.Agent, v)
		if len(cmds) > 0 {
			fmt.Fprintf(tw, "Commands:\t%s\n", strings.Join(cmds, "; "))
		}
	}
	return tw.Flush()
}
