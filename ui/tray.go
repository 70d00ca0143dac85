package ui

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"sync"

	"fyne.io/fyne/v2"
)

// TrayActions are what the tray menu's items do.
type TrayActions struct {
	Open    func() // show and raise the console window
	OpenWeb func() // open the web dashboard in the browser
	Quit    func() // stop esmon
}

// Labels of the tray menu's items.
const (
	MenuOpen    = "Open"
	MenuOpenWeb = "Open web dashboard"
	MenuQuit    = "Quit"
)

// TrayMenu builds the tray menu for a status: a disabled first line with the
// status text (Linux tray hosts often show no tooltip, so the menu says it
// too), then Open, Open web dashboard and Quit.
func TrayMenu(s TrayStatus, a TrayActions) *fyne.Menu {
	status := fyne.NewMenuItem(s.Tooltip(), nil)
	status.Disabled = true
	status.Icon = TrayIcon(s.Worst())
	quit := fyne.NewMenuItem(MenuQuit, a.Quit)
	quit.IsQuit = true
	return fyne.NewMenu("esmon",
		status,
		fyne.NewMenuItemSeparator(),
		fyne.NewMenuItem(MenuOpen, a.Open),
		fyne.NewMenuItem(MenuOpenWeb, a.OpenWeb),
		fyne.NewMenuItemSeparator(),
		quit,
	)
}

var (
	iconsMu sync.Mutex
	icons   = map[string]fyne.Resource{} // status → PNG, made on first use
)

// TrayIcon returns the tray icon for a status ("ok", "offline" or a
// severity): a disc in the status colour, as a PNG resource named
// "esmon-<status>.png".
func TrayIcon(status string) fyne.Resource {
	iconsMu.Lock()
	defer iconsMu.Unlock()
	if r, ok := icons[status]; ok {
		return r
	}
	r := fyne.NewStaticResource("esmon-"+status+".png", discPNG(64, StatusColor(status)))
	icons[status] = r
	return r
}

// discPNG draws an anti-aliased disc of colour c with a white rim, so it
// reads on dark and light panels alike.
func discPNG(size int, c color.NRGBA) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	const ss = 4 // samples per axis
	mid := float64(size) / 2
	outer := mid - 1
	inner := outer - float64(size)/16
	for y := range size {
		for x := range size {
			var rim, fill int
			for sy := range ss {
				for sx := range ss {
					dx := float64(x) + (float64(sx)+0.5)/ss - mid
					dy := float64(y) + (float64(sy)+0.5)/ss - mid
					d := math.Hypot(dx, dy)
					switch {
					case d <= inner:
						fill++
					case d <= outer:
						rim++
					}
				}
			}
			n := fill + rim
			if n == 0 {
				continue
			}
			// Blend rim white and fill colour by their share of the covered samples.
			mix := func(ch uint8) uint8 {
				return uint8((int(ch)*fill + 255*rim) / n)
			}
			img.SetNRGBA(x, y, color.NRGBA{
				R: mix(c.R), G: mix(c.G), B: mix(c.B),
				A: uint8(255 * n / (ss * ss)),
			})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		// Encoding an in-memory NRGBA image cannot fail.
		panic(err)
	}
	return buf.Bytes()
}
