package mailout

import (
	"bytes"
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"helpdesk/core"
)

// Chart is a report chart as a PNG, named as the report's HTML refers to it
// (cid:NAME in mail, an inline image on the dashboard).
type Chart struct {
	Name string
	PNG  []byte
}

// The charts' size in pixels (drawn at 72 dpi, one point a pixel).
const (
	ChartWidth  = 640
	ChartHeight = 320
)

// ReportCharts draws the report's charts: first-response and resolution
// medians by SLA plan, and the backlog by age.
func ReportCharts(m *core.ReportMail) ([]Chart, error) {
	times, err := timesChart(m.Week)
	if err != nil {
		return nil, fmt.Errorf("draw the times chart: %w", err)
	}
	backlog, err := backlogChart(m.Week)
	if err != nil {
		return nil, fmt.Errorf("draw the backlog chart: %w", err)
	}
	return []Chart{{Name: "times.png", PNG: times}, {Name: "backlog.png", PNG: backlog}}, nil
}

var (
	blue   = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	orange = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
)

func timesChart(r *core.Report) ([]byte, error) {
	p := plot.New()
	p.Title.Text = "Median time on the business clock, by SLA plan"
	p.Y.Label.Text = "hours"
	var names []string
	var first, resolution plotter.Values
	for _, g := range r.Groups {
		name := g.Key
		if name == "" {
			name = "(no plan)"
		}
		names = append(names, name)
		first = append(first, g.FirstResponse.Median.Hours())
		resolution = append(resolution, g.Resolution.Median.Hours())
	}
	if len(names) == 0 {
		names, first, resolution = []string{"no tickets"}, plotter.Values{0}, plotter.Values{0}
	}
	w := vg.Points(20)
	a, b, err := barPair(p, w, first, "first response", resolution, "resolution")
	if err != nil {
		return nil, err
	}
	a.Offset, b.Offset = -w/2, w/2 // side by side
	p.NominalX(names...)
	roomy(p, len(names))
	return encodePNG(p)
}

func backlogChart(r *core.Report) ([]byte, error) {
	p := plot.New()
	p.Title.Text = "Backlog by age"
	p.Y.Label.Text = "tickets"
	rows := r.BacklogRows()
	var names []string
	var open, pending plotter.Values
	for _, row := range rows {
		names = append(names, row.Age)
		open = append(open, float64(row.Open))
		pending = append(pending, float64(row.Pending))
	}
	o, pd, err := barPair(p, vg.Points(30), open, "open", pending, "pending")
	if err != nil {
		return nil, err
	}
	pd.StackOn(o)
	p.NominalX(names...)
	return encodePNG(p)
}

// barPair adds two series of bars to p, blue and orange, with a legend
// above them.
func barPair(p *plot.Plot, w vg.Length, first plotter.Values, firstName string, second plotter.Values, secondName string) (
	a, b *plotter.BarChart, err error) {
	if a, err = plotter.NewBarChart(first, w); err != nil {
		return nil, nil, err
	}
	if b, err = plotter.NewBarChart(second, w); err != nil {
		return nil, nil, err
	}
	a.Color, b.Color = blue, orange
	p.Add(a, b)
	p.Legend.Add(firstName, a)
	p.Legend.Add(secondName, b)
	p.Legend.Top = true
	return a, b, nil
}

// roomy keeps the bars off the edges and below the legend.
func roomy(p *plot.Plot, bars int) {
	p.X.Min, p.X.Max = -0.6, float64(bars)-0.4
	p.Y.Min, p.Y.Max = 0, max(p.Y.Max*1.3, 1)
}

func encodePNG(p *plot.Plot) ([]byte, error) {
	c := vgimg.NewWith(vgimg.UseWH(ChartWidth, ChartHeight), vgimg.UseDPI(72))
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
