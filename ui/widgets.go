package ui

import (
	"fmt"
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"esmon/core/apiv1"
)

// gauge shows one usage figure of a host: its name and percent above a thin
// bar coloured by how full it is.
type gauge struct {
	widget.BaseWidget
	name    string
	percent float64
	known   bool
}

const (
	gaugeWidth     = 112
	gaugeBarHeight = 6
)

func newGauge(name string) *gauge {
	g := &gauge{name: name}
	g.ExtendBaseWidget(g)
	return g
}

// Set shows a new value; known false shows a dash (an offline host).
func (g *gauge) Set(percent float64, known bool) {
	if g.percent == percent && g.known == known {
		return
	}
	g.percent, g.known = percent, known
	g.Refresh()
}

// Text is what the gauge reads, "CPU 42%" or "CPU –".
func (g *gauge) Text() string { return g.name + " " + g.valueText() }

func (g *gauge) valueText() string {
	if !g.known {
		return "–"
	}
	return fmt.Sprintf("%.0f%%", g.percent)
}

func (g *gauge) CreateRenderer() fyne.WidgetRenderer {
	r := &gaugeRenderer{
		g:     g,
		name:  canvas.NewText(g.name, color.Black),
		value: canvas.NewText("", color.Black),
		track: canvas.NewRectangle(color.Black),
		fill:  canvas.NewRectangle(color.Black),
	}
	r.value.TextStyle.Bold = true
	r.value.Alignment = fyne.TextAlignTrailing
	r.track.CornerRadius = gaugeBarHeight / 2
	r.fill.CornerRadius = gaugeBarHeight / 2
	r.Refresh()
	return r
}

type gaugeRenderer struct {
	g           *gauge
	name, value *canvas.Text
	track, fill *canvas.Rectangle
}

func (r *gaugeRenderer) textHeight() float32 {
	return fyne.MeasureText("0", r.name.TextSize, r.name.TextStyle).Height
}

func (r *gaugeRenderer) MinSize() fyne.Size {
	return fyne.NewSize(gaugeWidth, r.textHeight()+3+gaugeBarHeight)
}

func (r *gaugeRenderer) Layout(size fyne.Size) {
	th := r.textHeight()
	top := (size.Height - (th + 3 + gaugeBarHeight)) / 2
	r.name.Move(fyne.NewPos(0, top))
	r.name.Resize(fyne.NewSize(size.Width, th))
	r.value.Move(fyne.NewPos(0, top))
	r.value.Resize(fyne.NewSize(size.Width, th))
	barY := top + th + 3
	r.track.Move(fyne.NewPos(0, barY))
	r.track.Resize(fyne.NewSize(size.Width, gaugeBarHeight))
	var w float32 // nothing filled for an unknown value
	if r.g.known {
		w = size.Width * float32(min(max(r.g.percent, 0), 100)/100)
	}
	r.fill.Move(fyne.NewPos(0, barY))
	r.fill.Resize(fyne.NewSize(w, gaugeBarHeight))
}

func (r *gaugeRenderer) Refresh() {
	size := theme.Size(theme.SizeNameCaptionText)
	r.name.Text = r.g.name
	r.name.TextSize = size
	r.name.Color = theme.Color(theme.ColorNamePlaceHolder)
	r.value.Text = r.g.valueText()
	r.value.TextSize = size
	r.value.Color = theme.Color(theme.ColorNameForeground)
	r.track.FillColor = theme.Color(theme.ColorNameInputBackground)
	r.fill.FillColor = gaugeColor(r.g.percent)
	r.Layout(r.g.Size())
	canvas.Refresh(r.g)
}

func (r *gaugeRenderer) Objects() []fyne.CanvasObject {
	return []fyne.CanvasObject{r.track, r.fill, r.name, r.value}
}

func (r *gaugeRenderer) Destroy() {}

// badge is a small rounded label in a status colour: "CRITICAL", "ONLINE",
// "2 WARNING".
type badge struct {
	widget.BaseWidget
	text     string
	fill     color.Color // nil: the theme's neutral background
	minWidth float32
}

func newBadge(minWidth float32) *badge {
	b := &badge{minWidth: minWidth}
	b.ExtendBaseWidget(b)
	return b
}

// Set changes the badge's text and colour; a nil colour is neutral.
func (b *badge) Set(text string, fill color.Color) {
	if b.text == text && b.fill == fill {
		return
	}
	b.text, b.fill = text, fill
	b.Refresh()
}

func (b *badge) CreateRenderer() fyne.WidgetRenderer {
	r := &badgeRenderer{b: b, bg: canvas.NewRectangle(color.Black), label: canvas.NewText("", color.White)}
	r.label.TextStyle.Bold = true
	r.label.Alignment = fyne.TextAlignCenter
	r.Refresh()
	return r
}

type badgeRenderer struct {
	b     *badge
	bg    *canvas.Rectangle
	label *canvas.Text
}

const badgeHPad, badgeVPad = 8, 3

func (r *badgeRenderer) MinSize() fyne.Size {
	ts := fyne.MeasureText(r.label.Text, r.label.TextSize, r.label.TextStyle)
	return fyne.NewSize(max(r.b.minWidth, ts.Width+2*badgeHPad), ts.Height+2*badgeVPad)
}

func (r *badgeRenderer) Layout(size fyne.Size) {
	ms := r.MinSize()
	pos := fyne.NewPos(0, (size.Height-ms.Height)/2)
	box := fyne.NewSize(size.Width, ms.Height)
	r.bg.Move(pos)
	r.bg.Resize(box)
	r.bg.CornerRadius = ms.Height / 2
	r.label.Move(pos)
	r.label.Resize(box)
}

func (r *badgeRenderer) Refresh() {
	r.label.Text = r.b.text
	r.label.TextSize = theme.Size(theme.SizeNameCaptionText)
	if r.b.fill == nil {
		r.bg.FillColor = theme.Color(theme.ColorNameInputBackground)
		r.label.Color = theme.Color(theme.ColorNamePlaceHolder)
	} else {
		r.bg.FillColor = r.b.fill
		r.label.Color = textOn(r.b.fill)
	}
	r.Layout(r.b.Size())
	canvas.Refresh(r.b)
}

func (r *badgeRenderer) Objects() []fyne.CanvasObject { return []fyne.CanvasObject{r.bg, r.label} }
func (r *badgeRenderer) Destroy()                     {}

// textOn picks black or white text for a background, by its luminance, so
// the amber warning badge stays readable.
func textOn(bg color.Color) color.Color {
	r, g, b, _ := bg.RGBA()
	lum := (299*r + 587*g + 114*b) / 1000 >> 8
	if lum > 150 {
		return color.NRGBA{R: 0x1d, G: 0x1d, B: 0x1f, A: 0xff}
	}
	return color.White
}

// newDot is a small filled circle in a status colour; put it in a sized box.
func newDot() *canvas.Circle { return canvas.NewCircle(StatusColor(apiv1.StatusOffline)) }

// sized lays out its objects at one fixed size: a dot, a logo.
type sized fyne.Size

func (s sized) MinSize([]fyne.CanvasObject) fyne.Size { return fyne.Size(s) }

func (s sized) Layout(objs []fyne.CanvasObject, _ fyne.Size) {
	for _, o := range objs {
		o.Move(fyne.NewPos(0, 0))
		o.Resize(fyne.Size(s))
	}
}

// box centres an object of a fixed size.
func box(size float32, o fyne.CanvasObject) fyne.CanvasObject {
	return container.NewCenter(container.New(sized(fyne.NewSquareSize(size)), o))
}

// twoLines is a bold first line over a muted caption line, both cut with an
// ellipsis when the row is narrow.
func newTwoLines() *widget.RichText {
	rt := widget.NewRichText(
		&widget.TextSegment{Style: widget.RichTextStyle{TextStyle: fyne.TextStyle{Bold: true}}},
		&widget.TextSegment{Style: widget.RichTextStyle{
			SizeName:  theme.SizeNameCaptionText,
			ColorName: theme.ColorNamePlaceHolder,
		}},
	)
	rt.Truncation = fyne.TextTruncateEllipsis
	return rt
}

// setTwoLines changes the texts of a newTwoLines, refreshing only on change.
func setTwoLines(rt *widget.RichText, first, second string) {
	a := rt.Segments[0].(*widget.TextSegment)
	b := rt.Segments[1].(*widget.TextSegment)
	if a.Text == first && b.Text == second {
		return
	}
	a.Text, b.Text = first, second
	rt.Refresh()
}

// twoLinesText returns the lines of a newTwoLines, for tests.
func twoLinesText(rt *widget.RichText) (string, string) {
	return rt.Segments[0].(*widget.TextSegment).Text, rt.Segments[1].(*widget.TextSegment).Text
}

// fixedWidth lays out its objects stacked in a column of a set width, so
// columns of list rows line up.
type fixedWidth float32

func (w fixedWidth) MinSize(objs []fyne.CanvasObject) fyne.Size {
	h := float32(0)
	for _, o := range objs {
		h = max(h, o.MinSize().Height)
	}
	return fyne.NewSize(float32(w), h)
}

func (w fixedWidth) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	for _, o := range objs {
		o.Move(fyne.NewPos(0, 0))
		o.Resize(size)
	}
}

func withWidth(w float32, objs ...fyne.CanvasObject) *fyne.Container {
	return container.New(fixedWidth(w), objs...)
}
