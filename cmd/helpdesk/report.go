package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"helpdesk/core"
)

// cmdReport prints how support did in a period, for people (a table),
// programs (--json) or spreadsheets (--csv).
func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	from := fs.String("from", "", "start of the period, a date (2006-01-02) or a duration ago (168h); default 7 days before --to")
	to := fs.String("to", "", "end of the period, exclusive, a date or a duration ago; default now")
	by := fs.String("by", "", "group by plan, topic, team or agent (default: all tickets together)")
	asJSON := fs.Bool("json", false, "JSON")
	asCSV := fs.Bool("csv", false, "CSV, one line per group")
	if err := fs.Parse(args); err != nil {
		return &exitError{2, err}
	}
	opts, err := reportOptions(*from, *to, *by, time.Now())
	if err != nil {
		return &exitError{2, err}
	}
	_, db, err := openCommand(ctx, *cfgPath, stderr, false)
	if err != nil {
		return err
	}
	defer db.Close()
	r, err := db.Report(ctx, opts)
	if err != nil {
		return err
	}
	switch {
	case *asJSON:
		return writeJSON(stdout, r)
	case *asCSV:
		return writeReportCSV(stdout, r)
	}
	return writeReportText(stdout, r)
}

func reportOptions(from, to, by string, now time.Time) (core.ReportOptions, error) {
	o := core.ReportOptions{To: now, By: by}
	switch by {
	case "", core.ByPlan, core.ByTopic, core.ByTeam, core.ByAgent:
	default:
		return o, fmt.Errorf("--by %q: want plan, topic, team or agent", by)
	}
	var err error
	if to != "" {
		if o.To, err = parseSince(to, now); err != nil {
			return o, fmt.Errorf("--to: %w", err)
		}
	}
	o.From = o.To.Add(-core.ReportPeriod)
	if from != "" {
		if o.From, err = parseSince(from, now); err != nil {
			return o, fmt.Errorf("--from: %w", err)
		}
	}
	if !o.From.Before(o.To) {
		return o, errors.New("--from must be before --to")
	}
	return o, nil
}

// reportColumns are the CSV's columns; times are in minutes.
var reportColumns = []string{"group", "opened", "resolved", "reopened", "reopen_rate",
	"first_responses", "first_response_median_min", "first_response_p90_min", "first_response_within_target_pct",
	"resolutions", "resolution_median_min", "resolution_p90_min", "resolution_within_target_pct", "sla_alerts"}

func writeReportCSV(w io.Writer, r *core.Report) error {
	c := csv.NewWriter(w)
	c.Write(reportColumns)
	minutes := func(d time.Duration) string { return strconv.FormatFloat(d.Minutes(), 'f', 1, 64) }
	for _, g := range r.Groups {
		c.Write([]string{g.Key, strconv.Itoa(g.Opened), strconv.Itoa(g.Resolved), strconv.Itoa(g.Reopened),
			strconv.FormatFloat(g.ReopenRate, 'f', 3, 64),
			strconv.Itoa(g.FirstResponse.Count), minutes(g.FirstResponse.Median), minutes(g.FirstResponse.P90),
			strconv.FormatFloat(g.FirstResponse.WithinTarget, 'f', 1, 64),
			strconv.Itoa(g.Resolution.Count), minutes(g.Resolution.Median), minutes(g.Resolution.P90),
			strconv.FormatFloat(g.Resolution.WithinTarget, 'f', 1, 64), strconv.Itoa(g.BreachTotal())})
	}
	c.Flush()
	return c.Error()
}

func writeReportText(w io.Writer, r *core.Report) error {
	fmt.Fprintf(w, "%s to %s\n\n", r.From.Format("2006-01-02 15:04"), r.To.Format("2006-01-02 15:04"))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "group\topened\tresolved\treopened\tfirst resp. median\tp90\twithin\tresolution median\tp90\twithin\tSLA alerts\t")
	for _, g := range r.Groups {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", dash(g.Key), g.Opened, g.Resolved, g.Reopened,
			g.FirstResponse.MedianText(), g.FirstResponse.P90Text(), g.FirstResponse.WithinText(),
			g.Resolution.MedianText(), g.Resolution.P90Text(), g.Resolution.WithinText(), g.BreachTotal())
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "backlog now, by age\topen\tpending\t")
	for _, b := range r.BacklogRows() {
		fmt.Fprintf(tw, "%s\t%d\t%d\t\n", b.Age, b.Open, b.Pending)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "agent\topen\treplied\t")
	for _, l := range r.Load {
		fmt.Fprintf(tw, "%s\t%d\t%d\t\n", l.Agent.Email, l.Open, l.Replied)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d SLA alerts\n", len(r.Breaches))
	for _, b := range r.Breaches {
		fmt.Fprintf(w, "  %s #%d %s: step %s %s\n", b.At.Format("2006-01-02 15:04"), b.Number, b.Subject, b.Step, b.Late)
	}
	return nil
}
