package ui

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"

	"esmon/core/apiv1"
)

// TrayActions are what the tray menu's items do. A nil action leaves its
// item out.
type TrayActions struct {
	Open      func()                // show and raise the console window
	OpenAlert func(a apiv1.Alert)   // show the console on one alert
	Ack       func(a apiv1.Alert)   // acknowledge a firing alert
	Snooze    func(d time.Duration) // no desktop notifications for d (0 resumes)
	OpenWeb   func()                // open the web dashboard in the browser
	Quit      func()                // stop esmon
}

// TrayState is what the tray menu lists besides the status: the active
// alerts, worst first, and until when notifications are snoozed.
type TrayState struct {
	Status       TrayStatus
	Alerts       []apiv1.Alert
	SnoozedUntil time.Time // zero: not snoozed
}

// Labels of the tray menu's items.
const (
	MenuOpen      = "Open console"
	MenuAlerts    = "Active alerts"
	MenuAck       = "Acknowledge"
	MenuSnooze    = "Snooze notifications"
	MenuSnooze15  = "For 15 minutes"
	MenuSnooze60  = "For 1 hour"
	MenuResume    = "Resume notifications"
	MenuOpenWeb   = "Open web dashboard"
	MenuQuit      = "Quit"
	menuNoAlerts  = "No active alerts"
	menuAllAcked  = "Nothing to acknowledge"
	maxTrayAlerts = 20 // a tray menu taller than the screen helps nobody
)

// TrayMenu builds the tray menu: a disabled first line with the status
// text (Linux tray hosts often show no tooltip, so the menu says it too),
// then Open console, the active alerts (each opens its alert), Acknowledge
// (each firing alert nobody acknowledged), Snooze notifications, Open web
// dashboard and Quit.
func TrayMenu(st TrayState, a TrayActions) *fyne.Menu {
	s := st.Status
	status := fyne.NewMenuItem(s.Tooltip(), nil)
	status.Disabled = true
	status.Icon = TrayIcon(s.Worst())
	items := []*fyne.MenuItem{status, fyne.NewMenuItemSeparator()}
	if a.Open != nil {
		items = append(items, fyne.NewMenuItem(MenuOpen, a.Open))
	}
	if a.OpenAlert != nil {
		var sub []*fyne.MenuItem
		for _, al := range st.Alerts[:min(len(st.Alerts), maxTrayAlerts)] {
			it := fyne.NewMenuItem(trayAlertLabel(al), func() { a.OpenAlert(al) })
			it.Icon = TrayIcon(alertStatus(al))
			sub = append(sub, it)
		}
		if len(sub) == 0 {
			none := fyne.NewMenuItem(menuNoAlerts, nil)
			none.Disabled = true
			sub = append(sub, none)
		}
		m := fyne.NewMenuItem(fmt.Sprintf("%s (%d)", MenuAlerts, len(st.Alerts)), nil)
		m.ChildMenu = fyne.NewMenu("", sub...)
		items = append(items, m)
	}
	if a.Ack != nil {
		var sub []*fyne.MenuItem
		for _, al := range st.Alerts {
			if al.State != apiv1.StateFiring || al.Ack != nil || len(sub) == maxTrayAlerts {
				continue
			}
			sub = append(sub, fyne.NewMenuItem(trayAlertLabel(al), func() { a.Ack(al) }))
		}
		if len(sub) == 0 {
			none := fyne.NewMenuItem(menuAllAcked, nil)
			none.Disabled = true
			sub = append(sub, none)
		}
		m := fyne.NewMenuItem(MenuAck, nil)
		m.ChildMenu = fyne.NewMenu("", sub...)
		items = append(items, m)
	}
	if a.Snooze != nil {
		label := MenuSnooze
		sub := []*fyne.MenuItem{
			fyne.NewMenuItem(MenuSnooze15, func() { a.Snooze(15 * time.Minute) }),
			fyne.NewMenuItem(MenuSnooze60, func() { a.Snooze(time.Hour) }),
		}
		if !st.SnoozedUntil.IsZero() {
			label += " (until " + st.SnoozedUntil.Local().Format("15:04") + ")"
			sub = append(sub, fyne.NewMenuItemSeparator(), fyne.NewMenuItem(MenuResume, func() { a.Snooze(0) }))
		}
		m := fyne.NewMenuItem(label, nil)
		m.ChildMenu = fyne.NewMenu("", sub...)
		items = append(items, m)
	}
	if a.OpenWeb != nil {
		items = append(items, fyne.NewMenuItem(MenuOpenWeb, a.OpenWeb))
	}
	quit := fyne.NewMenuItem(MenuQuit, a.Quit)
	quit.IsQuit = true
	items = append(items, fyne.NewMenuItemSeparator(), quit)
	return fyne.NewMenu("esmon", items...)
}

// trayAlertLabel names an alert in the tray: "CRITICAL High CPU — web-01".
func trayAlertLabel(a apiv1.Alert) string {
	sev := strings.ToUpper(severityLabel(a.Severity))
	if a.State == apiv1.StatePending {
		sev = "PENDING"
	}
	label := sev + " " + a.RuleName + " — " + a.Host
	if a.Ack != nil {
		label += " (acknowledged by " + a.Ack.By + ")"
	}
	return label
}

// alertStatus is the colour an alert shows in: its severity, grey while
// pending.
func alertStatus(a apiv1.Alert) string {
	if a.State == apiv1.StatePending {
		return apiv1.StatusOffline
	}
	return a.Severity
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
	r := fyne.NewStaticResource("esmon-"+status+".png", discPNG(64, LightStatusColor(status)))
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
