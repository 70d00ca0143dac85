package ui

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/widget"
	"fyne.io/systray"

	"esmon/core/apiv1"
)

// Options tune a console beyond its client. The zero value is the
// in-process console.
type Options struct {
	// NotifyFromFeed makes the console raise desktop notifications from
	// the live feed itself, for alerts of NotifyMin and worse. A remote
	// core has no desktop channel; in process the core's desktop channel
	// calls Notify instead.
	NotifyFromFeed bool
	// NotifyMin is the least severity notified from the feed; default
	// critical, the desktop channel's default routing.
	NotifyMin string
	// Autostart, when set, is the "start at sign-in" switch of the
	// Settings screen.
	Autostart Autostart
	// Core lists what the Settings screen shows of the core: data
	// directory, ports, TLS, retention, the settings file.
	Core []Setting
	// OpenAlert, when set, is the ID of an alert Run opens at once, even
	// when starting minimised: esmon was started by a click on one of its
	// notifications (esmon --open).
	OpenAlert string
}

// Autostart starts esmon when the user signs in: an XDG autostart entry on
// Linux, the HKCU Run key on Windows.
type Autostart interface {
	Enabled() (bool, error)
	SetEnabled(on bool) error
}

// Setting is one line of the Settings screen: a name and its value.
type Setting struct {
	Name, Value string
}

// Preference keys of the console, in the Fyne app's preferences.
const (
	PrefStartMinimised = "console.start_minimised"
	// PrefWindowWidth and PrefWindowHeight are read from consoles that kept
	// the size there, before WindowFile.
	PrefWindowWidth  = "console.window_width"
	PrefWindowHeight = "console.window_height"
)

// Placer reads and sets where a window sits on the screen, which Fyne 2.7
// has no API for; app/ gives one per windowing system (X11, Windows), so
// the console opens where the operator left it.
type Placer interface {
	// Position is the window's top-left corner in screen pixels, as the
	// platform counts it (X11: the content's; Windows: the frame's); ok
	// is false when the window is not on screen.
	Position(w fyne.Window) (x, y int, ok bool)
	// Move puts the window's top-left corner, counted as Position does,
	// at (x, y), kept on a screen.
	Move(w fyne.Window, x, y int) error
}

// Console is the esmon desktop console: the main window with its screens,
// the system tray, and desktop notifications, all fed by a Client's live
// events.
//
// Start (or Run) and everything it builds belong to the UI goroutine; the
// live feed is read on a goroutine of the console's own, which hands each
// batch of events to the UI goroutine, and the operator's actions run on
// goroutines the console owns and waits for. Notify may be called from
// anywhere.
type Console struct {
	app    fyne.App
	logger *slog.Logger
	opts   Options

	// onUI runs fn on the UI goroutine and waits for it; fyne.DoAndWait, or
	// a test's stand-in for the main loop.
	onUI func(fn func())
	now  func() time.Time
	// applyEvery is the least time between two batches of live events
	// handed to the UI goroutine.
	applyEvery time.Duration
	// setTooltip sets the tray's hover text. Fyne 2.7 has no API for it, so
	// it goes to fyne.io/systray, the tray library under Fyne's desktop
	// driver (shown on Windows, macOS and KDE; most other Linux tray hosts
	// show none, which is why the tray menu repeats the text).
	setTooltip func(string)

	snoozeMu    sync.Mutex // guards snoozeUntil and desktop
	snoozeUntil time.Time
	desktop     DesktopNotifier

	ctx     context.Context // ends when the console stops; actions use it
	actions sync.WaitGroup  // running actions
	// stopping is set on the UI goroutine before the app quits. Fyne runs
	// work handed to a stopping loop on the caller's goroutine, so onUI's
	// work checks it and touches no widget once it is set.
	stopping atomic.Bool

	// The fields below belong to the UI goroutine.
	client                                       Client
	win                                          fyne.Window
	tabs                                         *container.AppTabs
	overviewTab, alertsTab                       *container.TabItem
	model                                        overview
	filter                                       hostFilter
	hostList, alertList                          *widget.List
	noHosts, noAlerts                            fyne.CanvasObject
	filterEntry                                  *widget.Entry
	overviewPane                                 fyne.CanvasObject
	detail                                       *hostDetail
	alerts                                       *alertsView
	rules                                        *rulesView
	channels                                     *channelsView
	agentsV                                      *agentsView
	usersV                                       *usersView
	setup                                        *setupView // the first-run screen while it shows
	setupAsked                                   bool       // the core answered whether it needs its first admin
	connDot                                      *canvas.Circle
	brand                                        *canvas.Image // the worst status beside the name
	chips                                        map[string]*badge
	connText, hostsText, hostsTitle, alertsTitle binding.String
	tray                                         desktop.App // nil when the app has no tray
	trayShown                                    TrayState   // what the tray shows now
	trayValid                                    bool        // trayShown was applied at least once
	visible                                      bool        // the window is shown
	placer                                       Placer      // nil: the position is not kept
	placed                                       bool        // the remembered position was applied
}

// NewConsole makes a console on a Fyne app. A nil logger logs to
// slog.Default.
func NewConsole(a fyne.App, logger *slog.Logger) *Console {
	if logger == nil {
		logger = slog.Default()
	}
	c := &Console{
		app:        a,
		logger:     logger,
		now:        time.Now,
		applyEvery: time.Second,
		setTooltip: systray.SetTooltip,
		chips:      map[string]*badge{},
		ctx:        context.Background(),
	}
	c.onUI = c.doOnUI
	return c
}

// doOnUI runs fn on the UI goroutine and waits, unless the app is quitting.
func (c *Console) doOnUI(fn func()) {
	if c.stopping.Load() {
		return
	}
	fyne.DoAndWait(func() {
		if !c.stopping.Load() {
			fn()
		}
	})
}

// SetPlacer makes the console remember where its window was; call it
// before Run. Without one only the size is kept.
func (c *Console) SetPlacer(p Placer) { c.placer = p }

// SetOptions sets the console's options; call it before Start.
func (c *Console) SetOptions(o Options) {
	o.NotifyMin = cmp.Or(o.NotifyMin, apiv1.SeverityCritical)
	c.opts = o
}

// Start builds the window and the tray, and follows the client's live feed
// until ctx is done or stop is called; stop returns once the feed's
// goroutine and every running action have ended. Start does not show the
// window or run the app; Run does both. Call it on the UI goroutine, once.
func (c *Console) Start(ctx context.Context, client Client) (stop func()) {
	c.opts.NotifyMin = cmp.Or(c.opts.NotifyMin, apiv1.SeverityCritical)
	c.client = client
	c.connText = binding.NewString()
	c.hostsText = binding.NewString()
	c.hostsTitle = binding.NewString()
	c.alertsTitle = binding.NewString()
	ctx, cancel := context.WithCancel(ctx)
	c.ctx = ctx

	c.win = c.app.NewWindow("esmon")
	c.overviewTab = container.NewTabItem("Overview", c.overviewScreen())
	c.alertsTab = container.NewTabItem("Alerts", c.alertsScreen())
	c.tabs = container.NewAppTabs(
		c.overviewTab,
		c.alertsTab,
		container.NewTabItem("Rules", c.rulesScreen()),
		container.NewTabItem("Channels", c.channelsScreen()),
		container.NewTabItem("Agents", c.agentsScreen()),
		container.NewTabItem("Users", c.usersScreen()),
		container.NewTabItem("Settings", c.settingsScreen()),
	)
	c.tabs.OnSelected = c.tabSelected
	main := container.NewBorder(c.header(), nil, nil, nil, c.tabs)
	c.win.SetContent(main)
	c.restoreSize()
	c.checkSetup(main)

	if d, ok := c.app.(desktop.App); ok {
		c.tray = d
		// The menu first, then the icon and window: Fyne starts the tray
		// with the menu.
		d.SetSystemTrayMenu(c.trayMenu(c.trayState()))
		d.SetSystemTrayWindow(c.win)
	}
	// After SetSystemTrayWindow, which installs its own.
	c.win.SetCloseIntercept(c.closeWindow)
	c.refreshHeader()

	var wg sync.WaitGroup
	wg.Go(func() { c.follow(ctx) })
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			c.actions.Wait()
		})
	}
}

// Run shows the console (unless the user chose to start minimised to the
// tray) and blocks in the Fyne event loop until the user quits from the
// tray, or ctx is done. Call it on the main goroutine.
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
			fyne.Do(c.quit)
		case <-done:
		}
	})
	c.app.Lifecycle().SetOnStopped(c.saveGeometry)
	switch {
	case c.opts.OpenAlert != "":
		c.OpenAlert(apiv1.Alert{ID: c.opts.OpenAlert})
	case c.tray == nil || !c.app.Preferences().Bool(PrefStartMinimised):
		c.show()
	}
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
func (c *Console) TrayStatus() TrayStatus { return c.trayShown.Status }

// ActiveAlerts is the console's list of active alerts, worst first, as
// the screens show it. Call it on the UI goroutine.
func (c *Console) ActiveAlerts() []apiv1.Alert { return c.model.alerts }

// Hosts is the console's list of hosts, by name. Call it on the UI
// goroutine.
func (c *Console) Hosts() []apiv1.Host { return c.model.hosts }

// Show brings the console window forward: the tray's Open, and a second
// launch of esmon. Call it on the UI goroutine.
func (c *Console) Show() { c.show() }

// DesktopNotifier shows notifications that open their alert when clicked
// (DBusNotifier on Linux); Fyne's own notifications cannot be clicked.
type DesktopNotifier interface {
	Send(t apiv1.Transition) error
}

// SetDesktopNotifier makes n show the notifications, with Fyne's as the
// fallback when n fails. It may be called from any goroutine.
func (c *Console) SetDesktopNotifier(n DesktopNotifier) {
	c.snoozeMu.Lock()
	defer c.snoozeMu.Unlock()
	c.desktop = n
}

// Notify shows a desktop notification for an alert transition, unless
// notifications are snoozed. It may be called from any goroutine.
func (c *Console) Notify(t apiv1.Transition) {
	if until := c.SnoozedUntil(); !until.IsZero() {
		c.logger.Debug("notification snoozed", "alert", t.Alert.ID, "until", until)
		return
	}
	c.snoozeMu.Lock()
	n := c.desktop
	c.snoozeMu.Unlock()
	if n != nil {
		err := n.Send(t)
		if err == nil {
			return
		}
		c.logger.Warn("desktop notification; falling back to Fyne's", "err", err)
	}
	c.app.SendNotification(NotificationFor(t))
}

// Snooze stops desktop notifications for d; zero or less resumes them. It
// may be called from any goroutine.
func (c *Console) Snooze(d time.Duration) {
	c.snoozeMu.Lock()
	if d <= 0 {
		c.snoozeUntil = time.Time{}
	} else {
		c.snoozeUntil = c.now().Add(d)
	}
	until := c.snoozeUntil
	c.snoozeMu.Unlock()
	c.logger.Info("desktop notifications snoozed", "until", until)
}

// SnoozedUntil is when the snooze ends, zero when notifications are on.
func (c *Console) SnoozedUntil() time.Time {
	c.snoozeMu.Lock()
	defer c.snoozeMu.Unlock()
	if !c.snoozeUntil.IsZero() && !c.now().Before(c.snoozeUntil) {
		c.snoozeUntil = time.Time{}
	}
	return c.snoozeUntil
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

// notifyWorthy says whether a transition from the feed deserves a desktop
// notification, as the core's desktop channel would route it: an alert of
// the least severity or worse that starts or stops firing, not muted.
func notifyWorthy(t apiv1.Transition, least string) bool {
	if t.Muted || apiv1.SeverityRank(t.Alert.Severity) < apiv1.SeverityRank(least) {
		return false
	}
	switch {
	case t.To == apiv1.StateFiring && t.From != apiv1.StateFiring:
		return true
	case t.To == apiv1.StateFiring:
		return t.Reason == "escalation" || t.Reason == "repeat"
	case t.From == apiv1.StateFiring:
		return t.To == apiv1.StateResolved || t.To == apiv1.StateInactive
	}
	return false
}

func (c *Console) show() {
	c.win.Show()
	c.restorePosition()
	c.win.RequestFocus()
	c.visible = true
}

// closeWindow hides the window while a tray can bring it back; without a
// tray, closing the window is quitting.
func (c *Console) closeWindow() {
	c.saveGeometry()
	if c.tray == nil {
		c.quit()
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

func (c *Console) trayState() TrayState {
	return TrayState{Status: c.model.status(), Alerts: c.model.alerts, SnoozedUntil: c.SnoozedUntil()}
}

func (c *Console) trayMenu(s TrayState) *fyne.Menu {
	return TrayMenu(s, TrayActions{
		Open:      c.show,
		OpenAlert: c.OpenAlert,
		Ack: func(a apiv1.Alert) {
			c.ack(a.ID, "acknowledged from the tray", nil)
		},
		Snooze: func(d time.Duration) {
			c.Snooze(d)
			c.refreshTray(true)
		},
		OpenWeb: c.openWeb,
		Quit:    c.quit,
	})
}

// quit remembers the window's size and stops the app. Call it on the UI
// goroutine.
func (c *Console) quit() {
	c.saveGeometry()
	c.stopping.Store(true)
	c.app.Quit()
}

// OpenAlert shows the console on one alert: the Alerts screen with it
// selected, from the active list or, once it is over, the history. The
// tray's alert items and notifications use it; only a.ID is read. Call it
// on the UI goroutine.
func (c *Console) OpenAlert(a apiv1.Alert) {
	c.show()
	c.tabs.Select(c.alertsTab)
	c.alerts.open(a.ID)
}

// ShownAlert is the ID of the alert the window shows: the Alerts screen is
// in front with it on the right. It is "" when the window is hidden or
// shows another screen. Call it on the UI goroutine.
func (c *Console) ShownAlert() string {
	if !c.visible || c.tabs.Selected() != c.alertsTab {
		return ""
	}
	return c.alerts.Selected()
}

// refreshTray shows the status in the tray and the window icon, and the
// alerts in the tray menu, when they changed (always when force).
func (c *Console) refreshTray(force bool) {
	s := c.trayState()
	if c.trayValid && !force && s.Status == c.trayShown.Status && sameAlerts(s.Alerts, c.trayShown.Alerts) &&
		s.SnoozedUntil.Equal(c.trayShown.SnoozedUntil) {
		return
	}
	// The menu keeps its own copy: the model's slice changes under it.
	s.Alerts = append([]apiv1.Alert(nil), s.Alerts...)
	c.trayShown, c.trayValid = s, true
	icon := TrayIcon(s.Status.Worst())
	c.win.SetIcon(icon)
	if c.tray == nil {
		return
	}
	c.tray.SetSystemTrayMenu(c.trayMenu(s))
	c.tray.SetSystemTrayIcon(icon)
	c.setTooltip(s.Status.Tooltip())
}

// sameAlerts compares what the tray menu shows of two alert lists.
func sameAlerts(a, b []apiv1.Alert) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].State != b[i].State || a[i].Severity != b[i].Severity ||
			(a[i].Ack == nil) != (b[i].Ack == nil) {
			return false
		}
	}
	return true
}

// act runs work (a call to the core) on a goroutine the console owns, then
// done with its error on the UI goroutine. The call is bounded by the
// console's life and a minute.
func (c *Console) act(work func(ctx context.Context) error, done func(err error)) {
	c.actions.Go(func() {
		ctx, cancel := context.WithTimeout(c.ctx, time.Minute)
		err := work(ctx)
		cancel()
		if c.ctx.Err() != nil {
			return
		}
		if done != nil {
			c.onUI(func() { done(err) })
		}
	})
}

// actReport runs work like act, and says "fail: error" in note when it
// fails, or runs ok (when set) when it worked.
func (c *Console) actReport(note *widget.Label, fail string, work func(ctx context.Context) error, ok func()) {
	c.act(work, func(err error) {
		if err != nil {
			note.SetText(fail + ": " + err.Error())
			return
		}
		if ok != nil {
			ok()
		}
	})
}

// confirm asks a yes-or-no question over the window and runs yes on yes.
func (c *Console) confirm(title, question string, yes func()) {
	dialog.ShowConfirm(title, question, func(ok bool) {
		if ok {
			yes()
		}
	}, c.win)
}

// ack acknowledges an alert with a comment; the live feed brings the
// acknowledged alert back. then, when set, hears the outcome.
func (c *Console) ack(id, comment string, then func(error)) {
	c.act(func(ctx context.Context) error {
		_, err := c.client.Ack(ctx, id, comment)
		return err
	}, func(err error) {
		if err != nil {
			c.logger.Warn("acknowledge", "alert", id, "err", err)
		}
		if then != nil {
			then(err)
		}
	})
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
// ctx is done. It reports whether any event came. Host updates go at most
// every applyEvery: 500 hosts reporting every 5 s are 100 events a second,
// and redrawing the window for each costs far more than the operator
// gains (BENCHMARKS.md, Console); gauges a second old read as live. An
// alert transition goes at once, with what is queued before it.
func (c *Console) pump(ctx context.Context, events <-chan apiv1.Event, refresh <-chan time.Time) (got bool) {
	var last time.Time // when the last batch was applied
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
			batch, open := c.collect(ctx, []apiv1.Event{ev}, events, last)
			if c.opts.NotifyFromFeed {
				for _, ev := range batch {
					if ev.Type == apiv1.EventAlert && ev.Transition != nil && notifyWorthy(*ev.Transition, c.opts.NotifyMin) {
						c.Notify(*ev.Transition)
					}
				}
			}
			c.onUI(func() { c.applyEvents(batch) })
			last = time.Now()
			if !open {
				return got
			}
		}
	}
}

// collect adds to batch the events that come until applyEvery has passed
// since last (or at once when it has, or an alert changed), up to maxBatch.
// It reports whether the feed is still open.
func (c *Console) collect(ctx context.Context, batch []apiv1.Event, events <-chan apiv1.Event, last time.Time) ([]apiv1.Event, bool) {
	if urgent(batch[len(batch)-1]) {
		return queued(batch, events)
	}
	wait := time.NewTimer(max(c.applyEvery-time.Since(last), 0))
	defer wait.Stop()
	for len(batch) < maxBatch {
		select {
		case ev, ok := <-events:
			if !ok {
				return batch, false
			}
			batch = append(batch, ev)
			if urgent(ev) {
				return queued(batch, events)
			}
		case <-wait.C:
			return queued(batch, events)
		case <-ctx.Done():
			return batch, true
		}
	}
	return batch, true
}

// urgent reports whether an event should reach the screen without waiting
// for the next batch: an alert changed, or a new picture.
func urgent(ev apiv1.Event) bool { return ev.Type != apiv1.EventHost }

// queued adds to batch the events already waiting, up to maxBatch, and
// reports whether the feed is still open.
func queued(batch []apiv1.Event, events <-chan apiv1.Event) ([]apiv1.Event, bool) {
	for len(batch) < maxBatch {
		select {
		case ev, ok := <-events:
			if !ok {
				return batch, false
			}
			batch = append(batch, ev)
		default:
			return batch, true
		}
	}
	return batch, true
}

func (c *Console) applyEvents(batch []apiv1.Event) {
	var ch change
	for _, ev := range batch {
		ch.merge(c.model.apply(ev))
	}
	c.update(ch)
	for _, ev := range batch {
		switch {
		case ev.Type == apiv1.EventAlert && ev.Transition != nil:
			c.alerts.transition(*ev.Transition)
		case ev.Type == apiv1.EventHost && ev.Host != nil:
			c.detail.hostChanged(*ev.Host)
		}
	}
}

// update redraws what a change touched.
func (c *Console) update(ch change) {
	switch {
	case ch.hosts || c.filter.active() && len(ch.hostRows) > 0 && c.filter.moved(&c.model, ch.hostRows):
		c.filter.apply(&c.model)
		c.hostList.Refresh()
	case len(ch.hostRows) == 1:
		if row, ok := c.filter.row(ch.hostRows[0]); ok {
			c.hostList.RefreshItem(row)
		}
	case len(ch.hostRows) > 1:
		// Fyne's RefreshItem refreshes the whole list as well as the
		// row, so a batch of rows costs one refresh, not one each.
		c.hostList.Refresh()
	}
	if ch.alerts {
		c.alertList.Refresh()
		c.alerts.refreshActive()
	}
	c.refreshHeader()
}

func (c *Console) refreshTimes() {
	c.hostList.Refresh()
	c.alertList.Refresh()
	c.alerts.refreshActive()
	c.refreshTray(false) // a snooze may have ended
}

// tabSelected loads what a screen shows from the core when it is opened.
func (c *Console) tabSelected(t *container.TabItem) {
	switch t.Text {
	case "Alerts":
		c.alerts.loadHistory()
	case "Rules":
		c.rules.load()
	case "Channels":
		c.channels.load()
	case "Agents":
		c.agentsV.load()
	case "Users":
		c.usersV.load()
	}
}
