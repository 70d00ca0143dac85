package ui

import (
	"image/color"
	"math"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// ChartSeries is one line of a Chart: a name for the legend and the
// crosshair, and its points in time order.
type ChartSeries struct {
	Name   string
	Points []ChartPoint
}

// ChartPoint is one value at one time.
type ChartPoint struct {
	T time.Time
	V float64
}

// Chart is a time-series line chart: one line per series over a time
// range, a value axis with round ticks, a time axis with labels that suit
// the range, a legend, and a crosshair that follows the mouse and reads out
// every series' value at that time. It is a real Fyne widget drawn with
// canvas lines, so it renders in the test driver like on screen.
type Chart struct {
	widget.BaseWidget

	title  string
	format func(float64) string // value labels: "42%", "1.2 MB/s"
	// fixedMax, when positive, is the top of the value axis (100 for
	// percent charts), so charts of a host compare at a glance.
	fixedMax float64

	// Set on the UI goroutine.
	from, to time.Time
	series   []ChartSeries
	message  string // shown instead of lines: "No data", an error
	hoverX   float32
	hovering bool
}

// chartColors colour the series in order; the first is the esmon blue.
var chartColors = []color.NRGBA{
	ColorInfo,
	{R: 0x27, G: 0xae, B: 0x60, A: 0xff},
	{R: 0x9b, G: 0x51, B: 0xe0, A: 0xff},
	{R: 0xf2, G: 0x99, B: 0x4a, A: 0xff},
	{R: 0x56, G: 0xcc, B: 0xf2, A: 0xff},
	{R: 0xeb, G: 0x57, B: 0x57, A: 0xff},
}

// NewChart returns an empty chart. format writes a value with its unit;
// fixedMax, when positive, pins the top of the value axis.
func NewChart(title string, format func(float64) string, fixedMax float64) *Chart {
	c := &Chart{title: title, format: format, fixedMax: fixedMax, message: "Loading…"}
	c.ExtendBaseWidget(c)
	return c
}

// SetData shows series over [from, to].
func (c *Chart) SetData(from, to time.Time, series []ChartSeries) {
	c.from, c.to, c.series = from, to, series
	c.message = ""
	if !hasPoints(series) {
		c.message = "No data in this range"
	}
	c.Refresh()
}

// SetMessage replaces the lines with a message, such as a failed query.
func (c *Chart) SetMessage(msg string) {
	c.series, c.message = nil, msg
	c.Refresh()
}

// Message is what the chart says instead of lines, "" while it draws them.
func (c *Chart) Message() string { return c.message }

func hasPoints(ss []ChartSeries) bool {
	for _, s := range ss {
		if len(s.Points) > 0 {
			return true
		}
	}
	return false
}

// MouseIn implements desktop.Hoverable.
func (c *Chart) MouseIn(e *desktop.MouseEvent) { c.MouseMoved(e) }

// MouseMoved moves the crosshair.
func (c *Chart) MouseMoved(e *desktop.MouseEvent) {
	c.hoverX, c.hovering = e.Position.X, true
	c.Refresh()
}

// MouseOut hides the crosshair.
func (c *Chart) MouseOut() {
	c.hovering = false
	c.Refresh()
}

var _ desktop.Hoverable = (*Chart)(nil)

// Readout is what the crosshair shows at x (in the chart's coordinates):
// the time and each series' nearest value, "14:05:10 · eth0 1.2 MB/s".
// It is empty when x is off the plot or there is no data.
func (c *Chart) Readout(x float32) string {
	r := c.layoutFor(c.Size())
	if !hasPoints(c.series) || x < r.plot.Position.X || x > r.plot.Position.X+r.plot.Size.Width {
		return ""
	}
	t := r.timeAt(x)
	parts := []string{t.Local().Format(timeLayout(c.to.Sub(c.from), true))}
	for _, s := range c.series {
		if p, ok := nearest(s.Points, t); ok {
			name := s.Name
			if name != "" {
				name += " "
			}
			parts = append(parts, name+c.format(p.V))
		}
	}
	return strings.Join(parts, " · ")
}

// nearest finds the point closest in time to t.
func nearest(ps []ChartPoint, t time.Time) (ChartPoint, bool) {
	if len(ps) == 0 {
		return ChartPoint{}, false
	}
	lo, hi := 0, len(ps)
	for lo < hi {
		m := (lo + hi) / 2
		if ps[m].T.Before(t) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	switch {
	case lo == 0:
		return ps[0], true
	case lo == len(ps):
		return ps[len(ps)-1], true
	case t.Sub(ps[lo-1].T) <= ps[lo].T.Sub(t):
		return ps[lo-1], true
	default:
		return ps[lo], true
	}
}

// CreateRenderer implements fyne.Widget.
func (c *Chart) CreateRenderer() fyne.WidgetRenderer {
	r := &chartRenderer{
		c:       c,
		bg:      canvas.NewRectangle(color.Transparent),
		title:   canvas.NewText(c.title, color.Black),
		message: canvas.NewText("", color.Black),
		cross:   canvas.NewLine(color.Black),
		readout: canvas.NewText("", color.Black),
	}
	r.title.TextStyle.Bold = true
	r.message.Alignment = fyne.TextAlignCenter
	r.readout.Alignment = fyne.TextAlignTrailing
	r.bg.CornerRadius = 4
	return r
}

// rect is an area of a widget.
type rect struct {
	Position fyne.Position
	Size     fyne.Size
}

// chartLayout is where the parts of a chart go at one size.
type chartLayout struct {
	plot     rect
	from, to time.Time
	top      float64 // value at the top of the plot
}

func (l chartLayout) timeAt(x float32) time.Time {
	f := float64((x - l.plot.Position.X) / l.plot.Size.Width)
	return l.from.Add(time.Duration(f * float64(l.to.Sub(l.from))))
}

func (l chartLayout) xOf(t time.Time) float32 {
	span := l.to.Sub(l.from)
	if span <= 0 {
		return l.plot.Position.X
	}
	return l.plot.Position.X + l.plot.Size.Width*float32(float64(t.Sub(l.from))/float64(span))
}

func (l chartLayout) yOf(v float64) float32 {
	if l.top <= 0 {
		return l.plot.Position.Y + l.plot.Size.Height
	}
	f := float32(math.Min(math.Max(v/l.top, 0), 1))
	return l.plot.Position.Y + l.plot.Size.Height*(1-f)
}

const (
	chartPad      = 8
	chartAxisW    = 64 // room for value labels
	chartTitleH   = 22
	chartTimeAxis = 20
	chartYTicks   = 4
)

func (c *Chart) layoutFor(size fyne.Size) chartLayout {
	var l chartLayout
	l.from, l.to = c.from, c.to
	l.plot.Position = fyne.NewPos(chartPad+chartAxisW, chartPad+chartTitleH)
	l.plot.Size = fyne.NewSize(
		max(size.Width-chartPad*2-chartAxisW, 1),
		max(size.Height-chartPad*2-chartTitleH-chartTimeAxis, 1))
	top := c.fixedMax
	for _, s := range c.series {
		for _, p := range s.Points {
			top = max(top, p.V)
		}
	}
	l.top = niceCeil(top)
	return l
}

// niceCeil rounds a maximum up to 1, 2, 2.5 or 5 times a power of ten, so
// ticks fall on round values.
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// timeLayout picks how time labels read for a range: clock times within a
// day, dates beyond; with seconds for the crosshair of a short range.
func timeLayout(span time.Duration, precise bool) string {
	switch {
	case span <= time.Hour && precise:
		return "15:04:05"
	case span <= 24*time.Hour:
		return "15:04"
	case precise:
		return "Jan 2 15:04"
	default:
		return "Jan 2"
	}
}

// timeTicks picks about n round times across [from, to].
func timeTicks(from, to time.Time, n int) []time.Time {
	span := to.Sub(from)
	if span <= 0 {
		return nil
	}
	steps := []time.Duration{time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute,
		15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour,
		12 * time.Hour, 24 * time.Hour, 2 * 24 * time.Hour, 5 * 24 * time.Hour, 7 * 24 * time.Hour}
	step := steps[len(steps)-1]
	for _, s := range steps {
		if span/s <= time.Duration(n) {
			step = s
			break
		}
	}
	// Round in local time, so day ticks fall on local midnight.
	_, off := from.Zone()
	shift := time.Duration(off) * time.Second
	first := from.Add(shift).Truncate(step).Add(-shift)
	if first.Before(from) {
		first = first.Add(step)
	}
	var ts []time.Time
	for t := first; !t.After(to); t = t.Add(step) {
		ts = append(ts, t)
	}
	return ts
}

type chartRenderer struct {
	c                       *Chart
	bg                      *canvas.Rectangle
	title, message, readout *canvas.Text
	axes                    [2]*canvas.Line
	grid                    []*canvas.Line
	yLabels, xLabels        []*canvas.Text
	lines                   []*canvas.Line // the series' segments, reused
	legend                  []*canvas.Text
	cross                   *canvas.Line
	objects                 []fyne.CanvasObject
}

func (r *chartRenderer) MinSize() fyne.Size { return fyne.NewSize(320, 180) }

func (r *chartRenderer) Layout(fyne.Size) { r.build() }

func (r *chartRenderer) Refresh() {
	r.build()
	canvas.Refresh(r.c)
}

func (r *chartRenderer) Objects() []fyne.CanvasObject { return r.objects }

func (r *chartRenderer) Destroy() {}

// text returns the i-th text of a pool, growing it.
func pooledText(pool *[]*canvas.Text, i int) *canvas.Text {
	for len(*pool) <= i {
		*pool = append(*pool, canvas.NewText("", color.Black))
	}
	return (*pool)[i]
}

func pooledLine(pool *[]*canvas.Line, i int) *canvas.Line {
	for len(*pool) <= i {
		*pool = append(*pool, canvas.NewLine(color.Black))
	}
	return (*pool)[i]
}

// build places every object for the chart's size and data. Series are
// drawn with at most one segment per two pixels of width: a 30-day range
// of raw samples costs what the screen can show, not what the store holds.
func (r *chartRenderer) build() {
	c := r.c
	size := c.Size()
	l := c.layoutFor(size)
	fg := theme.Color(theme.ColorNameForeground)
	muted := theme.Color(theme.ColorNamePlaceHolder)
	gridCol := theme.Color(theme.ColorNameSeparator)
	caption := theme.Size(theme.SizeNameCaptionText)

	r.objects = r.objects[:0]
	r.bg.FillColor = theme.Color(theme.ColorNameInputBackground)
	r.bg.Resize(size)
	r.objects = append(r.objects, r.bg)

	r.title.Text, r.title.Color = c.title, fg
	r.title.TextSize = theme.Size(theme.SizeNameText)
	r.title.Move(fyne.NewPos(chartPad, chartPad))
	r.objects = append(r.objects, r.title)

	// Value grid and labels.
	for i := 0; i <= chartYTicks; i++ {
		v := l.top * float64(i) / chartYTicks
		y := l.yOf(v)
		g := pooledLine(&r.grid, i)
		g.StrokeColor, g.StrokeWidth = gridCol, 1
		g.Position1 = fyne.NewPos(l.plot.Position.X, y)
		g.Position2 = fyne.NewPos(l.plot.Position.X+l.plot.Size.Width, y)
		t := pooledText(&r.yLabels, i)
		t.Text, t.Color, t.TextSize = c.format(v), muted, caption
		t.Alignment = fyne.TextAlignTrailing
		th := t.MinSize().Height
		t.Move(fyne.NewPos(chartPad, y-th/2))
		t.Resize(fyne.NewSize(chartAxisW-6, th))
		r.objects = append(r.objects, g, t)
	}
	// Axes.
	for i := range r.axes {
		if r.axes[i] == nil {
			r.axes[i] = canvas.NewLine(muted)
		}
		r.axes[i].StrokeColor, r.axes[i].StrokeWidth = muted, 1
	}
	bottom := l.plot.Position.Y + l.plot.Size.Height
	r.axes[0].Position1 = fyne.NewPos(l.plot.Position.X, l.plot.Position.Y)
	r.axes[0].Position2 = fyne.NewPos(l.plot.Position.X, bottom)
	r.axes[1].Position1 = fyne.NewPos(l.plot.Position.X, bottom)
	r.axes[1].Position2 = fyne.NewPos(l.plot.Position.X+l.plot.Size.Width, bottom)
	r.objects = append(r.objects, r.axes[0], r.axes[1])

	// Time labels.
	n := 0
	if c.to.After(c.from) {
		layout := timeLayout(c.to.Sub(c.from), false)
		maxTicks := max(int(l.plot.Size.Width/90), 2)
		for _, tt := range timeTicks(c.from, c.to, maxTicks) {
			t := pooledText(&r.xLabels, n)
			n++
			t.Text, t.Color, t.TextSize = tt.Local().Format(layout), muted, caption
			t.Alignment = fyne.TextAlignCenter
			x := l.xOf(tt)
			t.Move(fyne.NewPos(x-40, bottom+2))
			t.Resize(fyne.NewSize(80, t.MinSize().Height))
			r.objects = append(r.objects, t)
		}
	}

	// Series.
	seg := 0
	minDX := float32(2)
	for i, s := range c.series {
		col := chartColors[i%len(chartColors)]
		var prev fyne.Position
		have := false
		for j, p := range s.Points {
			pos := fyne.NewPos(l.xOf(p.T), l.yOf(p.V))
			if !have {
				prev, have = pos, true
				continue
			}
			if pos.X-prev.X < minDX && j != len(s.Points)-1 {
				continue
			}
			ln := pooledLine(&r.lines, seg)
			seg++
			ln.StrokeColor, ln.StrokeWidth = col, 1.5
			ln.Position1, ln.Position2 = prev, pos
			r.objects = append(r.objects, ln)
			prev = pos
		}
		// Legend, right-aligned on the title line.
		lg := pooledText(&r.legend, i)
		lg.Text, lg.Color, lg.TextSize = "● "+s.Name, col, caption
		r.objects = append(r.objects, lg)
	}
	x := size.Width - chartPad
	for i := len(c.series) - 1; i >= 0; i-- {
		lg := r.legend[i]
		w := lg.MinSize().Width
		x -= w + 8
		lg.Move(fyne.NewPos(x, chartPad+3))
	}

	if c.message != "" {
		r.message.Text, r.message.Color = c.message, muted
		r.message.Move(l.plot.Position)
		r.message.Resize(l.plot.Size)
		r.objects = append(r.objects, r.message)
	}

	if c.hovering {
		if text := c.Readout(c.hoverX); text != "" {
			r.cross.StrokeColor, r.cross.StrokeWidth = fg, 1
			r.cross.Position1 = fyne.NewPos(c.hoverX, l.plot.Position.Y)
			r.cross.Position2 = fyne.NewPos(c.hoverX, bottom)
			r.readout.Text, r.readout.Color, r.readout.TextSize = text, fg, caption
			r.readout.TextStyle.Bold = true
			r.readout.Move(fyne.NewPos(l.plot.Position.X, l.plot.Position.Y+2))
			r.readout.Resize(fyne.NewSize(l.plot.Size.Width-4, r.readout.MinSize().Height))
			r.objects = append(r.objects, r.cross, r.readout)
		}
	}
}
