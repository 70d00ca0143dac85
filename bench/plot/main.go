// Command plot draws the scale scenario's results (bench/scale's
// scale.csv) as PNGs against the number of agents, each with its target:
//
//	ingest.png   ingest samples/s, and the rate the agents produce
//	latency.png  batch acknowledgement and live update p50/p99 (250 ms target)
//	memory.png   core RSS (2 GB target)
//	per-conn.png memory per agent connection (30 KB target) and per
//	             dashboard connection (20 KB target)
//
//	go run ./bench/plot --csv OUT/scale.csv --out bench/results
package main

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "plot:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("plot", flag.ContinueOnError)
	in := fs.String("csv", "", "bench/scale's scale.csv `file` (required)")
	out := fs.String("out", "bench/results", "output `directory` for the PNGs")
	title := fs.String("title", "", "`text` added to every title (the machine, the date)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" {
		return errors.New("--csv is required")
	}
	t, err := readTable(*in)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	suffix := ""
	if *title != "" {
		suffix = " — " + *title
	}
	// The agents' acks in the measurement window where the simulator
	// marked one, else over its run after the settle, else the core's.
	ack50, ack99, ackFrom := t.col("ack_window_p50_ms"), t.col("ack_window_p99_ms"), "agents, window"
	if allNaN(ack99) {
		ack50, ack99, ackFrom = t.col("ack_p50_ms"), t.col("ack_p99_ms"), "agents"
	}
	if allNaN(ack99) {
		ack50, ack99, ackFrom = t.col("core_ack_p50_ms"), t.col("core_ack_p99_ms"), "core histogram"
	}
	charts := []chart{
		{file: "ingest.png", title: "Ingest rate" + suffix, y: "samples/s", lines: []line{
			{name: "ingested (core)", ys: t.col("ingest_samples_per_s"), c: 0},
			{name: "produced by the agents", ys: t.col("expected_samples_per_s"), c: 1, dashed: true},
		}},
		{file: "latency.png", title: "Latency percentiles" + suffix, y: "ms (log scale)", logY: true, target: 250, targetName: "target 250 ms", lines: []line{
			{name: "ack p50 (" + ackFrom + ")", ys: ack50, c: 0, dashed: true},
			{name: "ack p99 (" + ackFrom + ")", ys: ack99, c: 0},
			{name: "live p50", ys: t.col("live_p50_ms"), c: 1, dashed: true},
			{name: "live p99", ys: t.col("live_p99_ms"), c: 1},
		}},
		{file: "memory.png", title: "Core memory" + suffix, y: "MB", target: 2048, targetName: "target 2 GB RSS", lines: []line{
			{name: "RSS max in window", ys: t.col("core_rss_max_mb"), c: 0},
			{name: "Go heap in use", ys: t.col("go_heap_inuse_mb"), c: 1, dashed: true},
		}},
		{file: "per-conn.png", title: "Memory per connection" + suffix, y: "KB (log scale)", logY: true, lines: []line{
			{name: "per agent (slope from the step before)", ys: t.col("kb_per_agent_marginal"), c: 0},
			{name: "per agent (RSS Δ / agents)", ys: t.col("kb_per_agent"), c: 0, dashed: true},
			{name: "per dashboard (RSS Δ / dashboards)", ys: t.col("kb_per_dashboard"), c: 1},
		}, extra: []target{{30, "agent target 30 KB", 0}, {20, "dashboard target 20 KB", 1}}},
	}
	xs := t.col("agents")
	for _, c := range charts {
		p := c.draw(xs)
		path := filepath.Join(*out, c.file)
		if err := p.Save(6*vg.Inch, 4*vg.Inch, path); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		fmt.Fprintln(stdout, path)
	}
	return nil
}

// table is a CSV with a header row, read by column name.
type table struct {
	head []string
	rows [][]string
}

func readTable(path string) (*table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(recs) < 2 {
		return nil, fmt.Errorf("%s: no rows", path)
	}
	t := &table{head: recs[0], rows: recs[1:]}
	if allNaN(t.col("agents")) {
		return nil, fmt.Errorf("%s: no agents column", path)
	}
	return t, nil
}

// col is a column as numbers; missing columns and empty cells are NaN.
func (t *table) col(name string) []float64 {
	idx := -1
	for i, h := range t.head {
		if strings.TrimSpace(h) == name {
			idx = i
		}
	}
	out := make([]float64, len(t.rows))
	for i, r := range t.rows {
		out[i] = math.NaN()
		if idx >= 0 && idx < len(r) {
			if v, err := strconv.ParseFloat(strings.TrimSpace(r[idx]), 64); err == nil {
				out[i] = v
			}
		}
	}
	return out
}

func allNaN(v []float64) bool {
	for _, x := range v {
		if !math.IsNaN(x) {
			return false
		}
	}
	return true
}

type line struct {
	name   string
	ys     []float64
	c      int
	dashed bool
}

type target struct {
	v    float64
	name string
	c    int
}

type chart struct {
	file, title, y string
	lines          []line
	target         float64
	targetName     string
	extra          []target
	logY           bool // values span decades; points at or below 0 are left out
}

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
}

// draw makes the chart: x is the number of agents on a log scale (the
// steps run from 100 to 10,000), each line with points, targets as grey
// (or the line's colour, dotted) horizontal lines.
func (c chart) draw(xs []float64) *plot.Plot {
	p := plot.New()
	p.Title.Text = c.title
	p.X.Label.Text = "agents"
	p.Y.Label.Text = c.y
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	xmin, xmax := math.Inf(1), math.Inf(-1)
	for _, x := range xs {
		if x > 0 {
			xmin, xmax = math.Min(xmin, x), math.Max(xmax, x)
		}
	}
	if xmax > xmin {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = stepTicks(xs)
	}
	ymax, ymin := 0.0, math.Inf(1)
	for _, l := range c.lines {
		var pts plotter.XYs
		for i, y := range l.ys {
			if i < len(xs) && xs[i] > 0 && !math.IsNaN(y) && !math.IsInf(y, 0) && (!c.logY || y > 0) {
				pts = append(pts, plotter.XY{X: xs[i], Y: y})
				ymax, ymin = math.Max(ymax, y), math.Min(ymin, y)
			}
		}
		if len(pts) == 0 {
			continue
		}
		ln, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			continue
		}
		col := palette[l.c%len(palette)]
		ln.Color, sc.Color = col, col
		ln.Width = vg.Points(1.5)
		if l.dashed {
			ln.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			sc.Shape = draw.CrossGlyph{}
		} else {
			sc.Shape = draw.CircleGlyph{}
		}
		p.Add(ln, sc)
		p.Legend.Add(l.name, ln, sc)
	}
	targets := c.extra
	if c.targetName != "" {
		targets = append([]target{{c.target, c.targetName, -1}}, targets...)
	}
	if xmax >= xmin {
		for _, tg := range targets {
			hl, err := plotter.NewLine(plotter.XYs{{X: xmin, Y: tg.v}, {X: xmax, Y: tg.v}})
			if err != nil {
				continue
			}
			hl.Color = color.Gray{Y: 0x70}
			if tg.c >= 0 {
				hl.Color = palette[tg.c%len(palette)]
			}
			hl.Dashes = []vg.Length{vg.Points(1), vg.Points(3)}
			hl.Width = vg.Points(1.5)
			p.Add(hl)
			p.Legend.Add(tg.name, hl)
			ymax, ymin = math.Max(ymax, tg.v), math.Min(ymin, tg.v)
		}
	}
	if c.logY && ymin > 0 && !math.IsInf(ymin, 0) {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Y.Min, p.Y.Max = ymin/2, ymax*3
		return p
	}
	p.Y.Min = 0
	p.Y.Max = ymax * 1.15
	if p.Y.Max == 0 {
		p.Y.Max = 1
	}
	return p
}

// stepTicks labels the x axis at the steps themselves.
func stepTicks(xs []float64) plot.Ticker {
	var ts []plot.Tick
	for _, x := range xs {
		if x > 0 {
			ts = append(ts, plot.Tick{Value: x, Label: strconv.FormatFloat(x, 'f', -1, 64)})
		}
	}
	return plot.ConstantTicks(ts)
}
