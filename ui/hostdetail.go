package ui

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"esmon/core/apiv1"
)

// Ranges the host charts offer, as the range picker names them.
var chartRanges = []struct {
	Label string
	Span  time.Duration
}{
	{"15m", 15 * time.Minute}, {"1h", time.Hour}, {"6h", 6 * time.Hour},
	{"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour},
}

// chartSpec is one chart of the host detail: which series feed it and how
// its values read.
type chartSpec struct {
	title    string
	metrics  []chartMetric
	format   func(float64) string
	fixedMax float64
}

// chartMetric is one queried metric of a chart; suffix tells its series
// apart from the others' ("in", "out").
type chartMetric struct {
	metric, agg, suffix string
}

var hostCharts = []chartSpec{
	{title: "CPU", metrics: []chartMetric{{metric: "cpu_usage_percent"}}, format: percentText, fixedMax: 100},
	{title: "Memory", metrics: []chartMetric{{metric: "memory_used_percent"}, {metric: "swap_used_percent", suffix: "swap"}},
		format: percentText, fixedMax: 100},
	{title: "Disk used", metrics: []chartMetric{{metric: "disk_used_percent"}}, format: percentText, fixedMax: 100},
	{title: "Network", metrics: []chartMetric{
		{metric: "network_received_bytes_total", agg: "rate", suffix: "in"},
		{metric: "network_sent_bytes_total", agg: "rate", suffix: "out"}}, format: bytesRateText},
	{title: "JVM heap", metrics: []chartMetric{{metric: "jvm_heap_used_percent"}}, format: percentText, fixedMax: 100},
	{title: "Disk I/O", metrics: []chartMetric{
		{metric: "disk_read_bytes_total", agg: "rate", suffix: "read"},
		{metric: "disk_written_bytes_total", agg: "rate", suffix: "write"}}, format: bytesRateText},
}

// hostDetail is one host's page: its facts and status, and charts of its
// CPU, memory, disk, network and JVM over a picked range.
type hostDetail struct {
	c      *Console
	root   fyne.CanvasObject
	title  *widget.RichText
	status *badge
	picker *widget.RadioGroup
	charts []*Chart

	host     string        // the host shown; "" when closed
	span     time.Duration // the picked range
	loading  bool          // a load is under way
	loadedAt time.Time     // when the shown data was asked for
}

func newHostDetail(c *Console) *hostDetail {
	d := &hostDetail{c: c, title: newTwoLines(), status: newBadge(84), span: time.Hour}
	back := widget.NewButtonWithIcon("Hosts", theme.NavigateBackIcon(), c.closeHost)
	var labels []string
	for _, r := range chartRanges {
		labels = append(labels, r.Label)
	}
	d.picker = widget.NewRadioGroup(labels, func(label string) {
		for _, r := range chartRanges {
			if r.Label == label && r.Span != d.span {
				d.span = r.Span
				d.load()
			}
		}
	})
	d.picker.Horizontal = true
	d.picker.Required = true
	d.picker.SetSelected("1h")
	grid := container.NewGridWithColumns(2)
	for _, spec := range hostCharts {
		ch := NewChart(spec.title, spec.format, spec.fixedMax)
		d.charts = append(d.charts, ch)
		grid.Add(container.New(minHeight(220), ch))
	}
	top := container.NewBorder(nil, nil, container.NewHBox(back, d.status), d.picker, d.title)
	d.root = container.NewBorder(container.NewVBox(container.NewPadded(top), widget.NewSeparator()), nil, nil, nil,
		container.NewVScroll(container.NewPadded(grid)))
	d.root.Hide()
	return d
}

// open shows a host and loads its charts.
func (d *hostDetail) open(id string) {
	d.host = id
	d.showFacts()
	d.root.Show()
	d.load()
}

func (d *hostDetail) close() {
	d.host = ""
	d.root.Hide()
}

// Host is the host the detail shows, "" when closed.
func (d *hostDetail) Host() string { return d.host }

func (d *hostDetail) showFacts() {
	i, ok := d.c.model.hostIndex[d.host]
	if !ok {
		setTwoLines(d.title, d.host, "not reporting")
		d.status.Set("UNKNOWN", StatusColor(apiv1.StatusOffline))
		return
	}
	h := d.c.model.hosts[i]
	sub := osText(h.Facts)
	if h.AgentVersion != "" {
		sub += " · agent " + h.AgentVersion
	}
	if !h.LastSeen.IsZero() {
		sub += " · last seen " + strings.TrimPrefix(sinceText(h.LastSeen, d.c.now()), "since ")
	}
	setTwoLines(d.title, hostName(h), sub)
	d.status.Set(strings.ToUpper(hostStatusText(h)), StatusColor(hostStatus(h)))
}

// hostChanged follows new values of the shown host: its facts at once,
// and its charts again once a step of the range has passed.
func (d *hostDetail) hostChanged(h apiv1.Host) {
	if h.ID != d.host {
		return
	}
	d.showFacts()
	if d.c.now().Sub(d.loadedAt) >= max(stepFor(d.span), 10*time.Second) {
		d.load()
	}
}

// stepFor picks the query step of a range: raw samples for the shortest,
// then about 360 points, which the store serves from a rollup tier.
func stepFor(span time.Duration) time.Duration {
	if span <= 15*time.Minute {
		return 0
	}
	return (span / 360).Truncate(time.Second)
}

// load queries every chart of the shown host over the picked range.
func (d *hostDetail) load() {
	if d.host == "" || d.loading {
		return
	}
	d.loading = true
	host, span := d.host, d.span
	to := d.c.now()
	from := to.Add(-span)
	d.loadedAt = to
	type answer struct {
		series []ChartSeries
		err    error
	}
	answers := make([]answer, len(hostCharts))
	d.c.act(func(ctx context.Context) error {
		for i, spec := range hostCharts {
			for _, m := range spec.metrics {
				res, err := d.c.client.Query(ctx, Query{Host: host, Metric: m.metric, From: from, To: to,
					Step: stepFor(span), Agg: m.agg})
				if err != nil {
					answers[i].err = err
					break
				}
				answers[i].series = append(answers[i].series, chartSeries(res, m.suffix)...)
			}
		}
		return nil
	}, func(error) {
		d.loading = false
		if d.host != host {
			return
		}
		for i, a := range answers {
			if a.err != nil {
				d.charts[i].SetMessage("Could not load: " + a.err.Error())
				continue
			}
			d.charts[i].SetData(from, to, a.series)
		}
		if d.span != span {
			d.load() // the range changed while loading
		}
	})
}

// chartSeries turns a query answer into chart lines named by their labels
// other than host ("/", "eth0"), with the metric's suffix.
func chartSeries(res apiv1.QueryResult, suffix string) []ChartSeries {
	out := make([]ChartSeries, 0, len(res.Series))
	for _, s := range res.Series {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(s.Labels)) {
			if k != "host" {
				parts = append(parts, s.Labels[k])
			}
		}
		if suffix != "" {
			parts = append(parts, suffix)
		}
		cs := ChartSeries{Name: strings.Join(parts, " "), Points: make([]ChartPoint, len(s.Points))}
		for i, p := range s.Points {
			cs.Points[i] = ChartPoint{T: time.UnixMilli(p.T), V: p.V}
		}
		out = append(out, cs)
	}
	return out
}

// percentText reads a percent value: "42%", "7.5%".
func percentText(v float64) string { return formatNumber(v) + "%" }

// bytesRateText reads a rate in bytes per second with a binary-free SI
// unit: "850 B/s", "1.2 MB/s".
func bytesRateText(v float64) string {
	units := []string{"B/s", "kB/s", "MB/s", "GB/s", "TB/s"}
	i := 0
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	return fmt.Sprintf("%s %s", formatNumber(v), units[i])
}

// minHeight lays out its objects stacked at least a height tall.
type minHeight float32

func (h minHeight) MinSize(objs []fyne.CanvasObject) fyne.Size {
	s := fyne.NewSize(0, float32(h))
	for _, o := range objs {
		s = s.Max(o.MinSize())
	}
	return s
}

func (h minHeight) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	for _, o := range objs {
		o.Move(fyne.NewPos(0, 0))
		o.Resize(size)
	}
}
