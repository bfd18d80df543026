package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"helpdesk/core"
	"helpdesk/mailout"
)

func cmdTicket(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &exitError{2, fmt.Errorf("usage: helpdesk ticket ACTION, where ACTION is list, show, attachment, %s", strings.Join(actionNames(), ", "))}
	}
	switch args[0] {
	case "list":
		return ticketList(ctx, args[1:], stdout, stderr)
	case "show":
		return ticketShow(ctx, args[1:], stdout, stderr)
	case "attachment":
		return ticketAttachment(ctx, args[1:], stdout, stderr)
	}
	if _, ok := ticketActions[args[0]]; ok {
		return ticketAction(ctx, args[0], args[1:], stdin, stdout, stderr)
	}
	return &exitError{2, fmt.Errorf("unknown ticket command %q", args[0])}
}

func ticketList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ticket list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	status := fs.String("status", "", "only tickets with this status (open, pending, resolved, closed)")
	overdue := fs.Bool("overdue", false, "only overdue tickets")
	assignee := fs.String("assignee", "", "only tickets assigned to this agent (email or name)")
	team := fs.String("team", "", "only tickets of this team")
	customer := fs.String("customer", "", "only tickets of this customer (email)")
	since := fs.String("since", "", "only tickets opened since this date (2006-01-02) or duration ago (48h)")
	limit := fs.Int("limit", 100, "at most this many tickets, newest first")
	after := fs.Int64("after", 0, "the next page: only tickets numbered below this one")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return &exitError{2, err}
	}
	f := core.TicketFilter{Overdue: *overdue, Assignee: *assignee, Team: *team, Customer: *customer, Limit: *limit, After: *after}
	if *since != "" {
		t, err := parseSince(*since, time.Now())
		if err != nil {
			return &exitError{2, err}
		}
		f.Since = t
	}
	if *status != "" {
		st, err := core.ParseStatus(*status)
		if err != nil {
			return &exitError{2, err}
		}
		f.Status = st
	}
	_, db, err := openCommand(ctx, *cfgPath, stderr, false)
	if err != nil {
		return err
	}
	defer db.Close()
	list, err := db.ListTickets(ctx, f)
	if err != nil {
		return err
	}
	if *asJSON {
		if list == nil {
			list = []core.Ticket{}
		}
		return writeJSON(stdout, list)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TICKET\tSTATUS\tPRIORITY\tSLA\tASSIGNEE\tCUSTOMER\tUPDATED\tSUBJECT")
	for _, t := range list {
		who := "-"
		if t.Assignee != nil {
			who = t.Assignee.Name
		}
		status := string(t.Status)
		if t.Overdue {
			status += " (overdue)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Tag(), status, t.Priority, dash(t.SLAPlan), who,
			t.Customer.Email, t.UpdatedAt.Local().Format("2006-01-02 15:04"), t.Subject)
	}
	return tw.Flush()
}

func ticketShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ticket show", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	number, args := takeNumber(args)
	if err := fs.Parse(args); err != nil {
		return &exitError{2, err}
	}
	if number == 0 {
		number, _ = takeNumberArg(fs.Args())
	}
	if number == 0 {
		return &exitError{2, fmt.Errorf("usage: helpdesk ticket show N [--json]")}
	}
	_, db, err := openCommand(ctx, *cfgPath, stderr, false)
	if err != nil {
		return err
	}
	defer db.Close()
	th, err := db.ShowTicket(ctx, number)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, th)
	}
	printThread(stdout, th)
	return nil
}

func printThread(w io.Writer, th *core.Thread) {
	t := th.Ticket
	fmt.Fprintf(w, "Ticket %s %s\n", t.Tag(), t.Subject)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	assignee := "-"
	if t.Assignee != nil {
		assignee = t.Assignee.Display()
	}
	fmt.Fprintf(tw, "  Status:\t%s\tPriority:\t%s\n", t.Status, t.Priority)
	fmt.Fprintf(tw, "  Customer:\t%s\tCollaborators:\t%s\n", t.Customer.Display(), dash(strings.Join(t.Collaborators, ", ")))
	fmt.Fprintf(tw, "  Topic:\t%s\tSLA plan:\t%s\n", dash(t.HelpTopic), dash(t.SLAPlan))
	fmt.Fprintf(tw, "  Assignee:\t%s\tTeam:\t%s\n", assignee, dash(t.Team))
	fmt.Fprintf(tw, "  First response due:\t%s\tResolution due:\t%s\n", when(t.FirstResponseDue), when(t.ResolutionDue))
	fmt.Fprintf(tw, "  SLA clock:\t%s\tNext escalation:\t%s\n", t.SLAState, when(t.NextEscalationAt))
	fmt.Fprintf(tw, "  Overdue:\t%v\tCreated:\t%s\n", t.Overdue, t.CreatedAt.Local().Format("2006-01-02 15:04:05"))
	tw.Flush()
	fmt.Fprintln(w)
	for _, e := range th.Entries {
		kind := string(e.Kind)
		if e.Event != "" {
			kind += " " + e.Event
		}
		fmt.Fprintf(w, "%s  %-22s %s%s\n", e.CreatedAt.Local().Format("2006-01-02 15:04:05"), kind, e.Author, formatData(e.Data))
		if e.Body != "" {
			for _, line := range strings.Split(strings.TrimRight(e.Body, "\n"), "\n") {
				fmt.Fprintf(w, "    | %s\n", line)
			}
		}
		for _, a := range e.Attachments {
			if !a.Inline {
				fmt.Fprintf(w, "    + %s (%s, %d bytes): helpdesk ticket attachment %d %q -o FILE\n", a.Filename, a.ContentType, a.Size,
					t.Number, a.Filename)
			}
		}
	}
}

// ticketAttachment saves one file of a ticket: helpdesk ticket attachment N NAME -o PATH.
func ticketAttachment(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ticket attachment", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	outPath := fs.String("o", "", "write the file here (default: standard output)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return &exitError{2, err}
	}
	if len(pos) != 2 {
		return &exitError{2, fmt.Errorf("usage: helpdesk ticket attachment N NAME [-o PATH]")}
	}
	number, ok := takeNumberArg(pos[:1])
	if !ok {
		return &exitError{2, fmt.Errorf("ticket number %q", pos[0])}
	}
	_, db, err := openCommand(ctx, *cfgPath, stderr, false)
	if err != nil {
		return err
	}
	defer db.Close()
	f, err := db.TicketFile(ctx, number, pos[1])
	if err != nil {
		return err
	}
	data, ok := fileData(f)
	if !ok {
		return fmt.Errorf("ticket %d: %q is listed but could not be read from the stored message", number, pos[1])
	}
	if *outPath == "" {
		_, err = stdout.Write(data)
		return err
	}
	if err := os.WriteFile(*outPath, data, 0o600); err != nil {
		return fmt.Errorf("save %s: %w", *outPath, err)
	}
	fmt.Fprintf(stdout, "saved %s (%d bytes)\n", *outPath, len(data))
	return nil
}

// fileData takes a stored file's bytes out of its message: the part with
// its name, or the only file when names were read differently.
func fileData(f *core.StoredFile) ([]byte, bool) {
	files := mailout.Files(f.Raw)
	for _, x := range files {
		if core.CleanLine(x.Name) == f.Filename {
			return x.Data, true
		}
	}
	if len(files) == 1 {
		return files[0].Data, true
	}
	return nil, false
}

func formatData(d map[string]any) string {
	if len(d) == 0 {
		return ""
	}
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("  (")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%v", k, d[k])
	}
	b.WriteString(")")
	return b.String()
}

func cmdAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "list" {
		return &exitError{2, fmt.Errorf("usage: helpdesk agent list [--json]")}
	}
	fs := flag.NewFlagSet("agent list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return &exitError{2, err}
	}
	_, db, err := openCommand(ctx, *cfgPath, stderr, false)
	if err != nil {
		return err
	}
	defer db.Close()
	agents, err := db.Agents(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, agents)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EMAIL\tNAME\tROLE\tTEAMS\tAWAY")
	for _, a := range agents {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", a.Email, a.Name, a.Role, dash(strings.Join(a.Teams, ", ")), a.Away)
	}
	return tw.Flush()
}

// takeNumber lets "show 1001 --json" and "show --json 1001" both work, and
// accepts "[#1001]" or "#1001" as people copy them from subjects.
func takeNumber(args []string) (int64, []string) {
	if len(args) > 0 {
		if n, ok := parseTicketNumber(args[0]); ok {
			return n, args[1:]
		}
	}
	return 0, args
}

func takeNumberArg(args []string) (int64, bool) {
	if len(args) == 0 {
		return 0, false
	}
	return parseTicketNumber(args[0])
}

func parseTicketNumber(s string) (int64, bool) {
	s = strings.Trim(s, "[]#")
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// parseSince reads a date (2006-01-02, local time) or a duration before now.
func parseSince(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.ParseInLocation("2006-01-02", v, time.Local)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since %q: want a date such as 2026-03-02 or a duration such as 48h", v)
	}
	return t, nil
}
