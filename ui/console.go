package ui

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/widget"
	"fyne.io/systray"

	"esmon/core/apiv1"
)

// Console is the esmon desktop console: the main window with the hosts and
// the active alerts, the system tray, and desktop notifications, all fed by
// a Client's live events.
//
// Start (or Run) and everything it builds belong to the UI goroutine; the
// live feed is read on a goroutine of the console's own, which hands each
// batch of events to the UI goroutine. Notify may be called from anywhere.
type Console struct {
	app    fyne.App
	logger *slog.Logger

	// onUI runs fn on the UI goroutine and waits for it; fyne.DoAndWait, or
	// a test's stand-in for the main loop.
	onUI func(fn func())
	now  func() time.Time
	// setTooltip sets the tray's hover text. Fyne 2.7 has no API for it, so
	// it goes to fyne.io/systray, the tray library under Fyne's desktop
	// driver (shown on Windows, macOS and KDE; most other Linux tray hosts
	// show none, which is why the tray menu repeats the text).
	setTooltip func(string)

	// The fields below belong to the UI goroutine.
	client                                       Client
	win                                          fyne.Window
	model                                        overview
	hostList, alertList                          *widget.List
	noHosts, noAlerts                            fyne.CanvasObject
	connDot                                      *canvas.Circle
	brand                                        *canvas.Image // the worst status beside the name
	chips                                        map[string]*badge
	connText, hostsText, hostsTitle, alertsTitle binding.String
	tray                                         desktop.App // nil when the app has no tray
	trayShown                                    TrayStatus  // what the tray shows now
	trayValid                                    bool        // trayShown was applied at least once
	visible                                      bool        // the window is shown
}

// NewConsole makes a console on a Fyne app. A nil logger logs to
// slog.Default.
func NewConsole(a fyne.App, logger *slog.Logger) *Console {
	if logger == nil {
		logger = slog.Default()
	}
	return &Console{
		app:        a,
		logger:     logger,
		onUI:       fyne.DoAndWait,
		now:        time.Now,
		setTooltip: systray.SetTooltip,
		chips:      map[string]*badge{},
	}
}

// Start builds the window and the tray, and follows the client's live feed
// until ctx is done or stop is called; stop returns once the feed's
// goroutine has ended. Start does not show the window or run the app; Run
// does both. Call it on the UI goroutine, once.
func (c *Console) Start(ctx context.Context, client Client) (stop func()) {
	c.client = client
	c.connText = binding.NewString()
	c.hostsText = binding.NewString()
	c.hostsTitle = binding.NewString()
	c.alertsTitle = binding.NewString()

	c.win = c.app.NewWindow("esmon")
	split := container.NewVSplit(c.hostsScreen(), c.alertsScreen())
	split.Offset = 0.58
	c.win.SetContent(container.NewBorder(c.header(), nil, nil, nil, container.NewPadded(split)))
	c.win.Resize(fyne.NewSize(1120, 720))

	if d, ok := c.app.(desktop.App); ok {
		c.tray = d
		// The menu first, then the icon and window: Fyne starts the tray
		// with the menu.
		d.SetSystemTrayMenu(c.trayMenu(c.model.status()))
		d.SetSystemTrayWindow(c.win)
	}
	// After SetSystemTrayWindow, which installs its own.
	c.win.SetCloseIntercept(c.closeWindow)
	c.refreshHeader()

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { c.follow(ctx) })
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			wg.Wait()
		})
	}
}

// Run shows the console and blocks in the Fyne event loop until the user
// quits from the tray, or ctx is done. Call it on the main goroutine.
func (c *Console) Run(ctx context.Context, client Client) error {
	if ctx.Err() != nil {
		return nil
	}
	stop := c.Start(ctx, client)
	defer stop()

	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-ctx.Done():
			c.logger.Info("console stopping")
			fyne.Do(c.app.Quit)
		case <-done:
		}
	})
	c.show()
	c.app.Run()
	close(done)
	wg.Wait()
	return nil
}

// Window is the console's main window, once Start has built it.
func (c *Console) Window() fyne.Window { return c.win }

// Visible reports whether the main window is shown (closing it only hides
// it while there is a tray).
func (c *Console) Visible() bool { return c.visible }

// TrayStatus is what the tray shows now.
func (c *Console) TrayStatus() TrayStatus { return c.trayShown }

// Notify shows a desktop notification for an alert transition. It may be
// called from any goroutine.
func (c *Console) Notify(t apiv1.Transition) {
	c.app.SendNotification(NotificationFor(t))
}

// NotificationFor words a transition as a desktop notification: "FIRING
// critical: High CPU" or "RESOLVED: High CPU", then host, value against
// threshold, and the summary.
func NotificationFor(t apiv1.Transition) *fyne.Notification {
	a := t.Alert
	to := cmp.Or(t.To, a.State)
	value := t.Value
	if value == 0 {
		value = a.Value
	}
	var title, content string
	switch to {
	case apiv1.StateResolved, apiv1.StateInactive:
		title = "RESOLVED: " + a.RuleName
		u := unitOf(a.Metric)
		content = fmt.Sprintf("%s: now %s%s (threshold %s %s%s)", a.Host,
			formatNumber(value), u, cmp.Or(a.Op, "at"), formatNumber(a.Threshold), u)
	default:
		title = fmt.Sprintf("%s %s: %s", strings.ToUpper(to), severityLabel(a.Severity), a.RuleName)
		content = a.Host + ": " + alertValueText(value, a)
	}
	if a.Summary != "" {
		content += "\n" + a.Summary
	}
	return fyne.NewNotification(title, content)
}

func (c *Console) show() {
	c.win.Show()
	c.win.RequestFocus()
	c.visible = true
}

// closeWindow hides the window while a tray can bring it back; without a
// tray, closing the window is quitting.
func (c *Console) closeWindow() {
	if c.tray == nil {
		c.app.Quit()
		return
	}
	c.win.Hide()
	c.visible = false
	c.logger.Debug("console window hidden; esmon keeps running in the tray")
}

func (c *Console) openWeb() {
	raw := c.client.WebURL()
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		c.logger.Warn("no web dashboard address", "url", raw, "err", err)
		return
	}
	if err := c.app.OpenURL(u); err != nil {
		c.logger.Warn("open web dashboard", "url", raw, "err", err)
	}
}

func (c *Console) trayMenu(s TrayStatus) *fyne.Menu {
	return TrayMenu(s, TrayActions{Open: c.show, OpenWeb: c.openWeb, Quit: c.app.Quit})
}

// setTray shows a status in the tray and the window icon, when it changed.
func (c *Console) setTray(s TrayStatus) {
	if c.trayValid && s == c.trayShown {
		return
	}
	c.trayShown, c.trayValid = s, true
	icon := TrayIcon(s.Worst())
	c.win.SetIcon(icon)
	if c.tray == nil {
		return
	}
	c.tray.SetSystemTrayMenu(c.trayMenu(s))
	c.tray.SetSystemTrayIcon(icon)
	c.setTooltip(s.Tooltip())
}

// maxBatch bounds how many queued events one trip to the UI goroutine takes.
const maxBatch = 512

// follow reads the live feed until ctx is done, subscribing again with a
// growing pause when the feed ends (a remote core went away).
func (c *Console) follow(ctx context.Context) {
	refresh := time.NewTicker(30 * time.Second) // "since" and "last seen" texts
	defer refresh.Stop()
	const minWait, maxWait = time.Second, 30 * time.Second
	wait := minWait
	for {
		events, cancel := c.client.Subscribe()
		got := c.pump(ctx, events, refresh.C)
		cancel()
		if ctx.Err() != nil {
			return
		}
		c.onUI(func() { c.update(c.model.setConnected(false)) })
		if got {
			wait = minWait
		}
		c.logger.Warn("live feed ended; subscribing again", "after", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, maxWait)
	}
}

// pump hands events to the UI goroutine in batches until the feed closes or
// ctx is done. It reports whether any event came.
func (c *Console) pump(ctx context.Context, events <-chan apiv1.Event, refresh <-chan time.Time) (got bool) {
	for {
		select {
		case <-ctx.Done():
			return got
		case <-refresh:
			c.onUI(c.refreshTimes)
		case ev, ok := <-events:
			if !ok {
				return got
			}
			got = true
			batch, open := []apiv1.Event{ev}, true
		drain:
			for len(batch) < maxBatch {
				select {
				case ev, ok := <-events:
					if !ok {
						open = false
						break drain
					}
					batch = append(batch, ev)
				default:
					break drain
				}
			}
			c.onUI(func() { c.applyEvents(batch) })
			if !open {
				return got
			}
		}
	}
}

func (c *Console) applyEvents(batch []apiv1.Event) {
	var ch change
	for _, ev := range batch {
		ch.merge(c.model.apply(ev))
	}
	c.update(ch)
}

// update redraws what a change touched.
func (c *Console) update(ch change) {
	if ch.hosts {
		c.hostList.Refresh()
	} else {
		for _, i := range ch.hostRows {
			c.hostList.RefreshItem(i)
		}
	}
	if ch.alerts {
		c.alertList.Refresh()
	}
	c.refreshHeader()
}

func (c *Console) refreshTimes() {
	c.hostList.Refresh()
	c.alertList.Refresh()
}
