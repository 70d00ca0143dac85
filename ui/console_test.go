package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"go.uber.org/goleak"

	"esmon/core/apiv1"
)

// fakeClient serves live events the test pushes. Each Subscribe takes the
// next feed from feeds, so a test can end one feed and start another. Its
// actions are recorded, and answer from its fields.
type fakeClient struct {
	feeds chan chan apiv1.Event

	mu       sync.Mutex // guards the fields below
	acks     []string   // "id: comment"
	silences []apiv1.Silence
	queries  []Query
	rules    []apiv1.Rule
	channels []apiv1.Channel
	tested   []string
	history  []apiv1.Transition
	series   map[string][]apiv1.Series // metric → answer
	agents   []apiv1.Agent
	codes    []apiv1.JoinCode
	users    []apiv1.User
	patches  []string // "name: role=… disabled=…"
	failWith error    // every action fails with it when set
}

func newFakeClient() *fakeClient { return &fakeClient{feeds: make(chan chan apiv1.Event, 4)} }

// feed opens the next subscription's channel.
func (f *fakeClient) feed() chan apiv1.Event {
	ch := make(chan apiv1.Event, 16)
	f.feeds <- ch
	return ch
}

func (f *fakeClient) WebURL() string { return "https://127.0.0.1:8443/" }

// Subscribe never blocks, like a real client: with no feed queued it
// returns one that stays silent.
func (f *fakeClient) Subscribe() (<-chan apiv1.Event, func()) {
	select {
	case ch := <-f.feeds:
		return ch, func() {}
	default:
		return make(chan apiv1.Event), func() {}
	}
}

func (f *fakeClient) Query(_ context.Context, q Query) (apiv1.QueryResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	return apiv1.QueryResult{Tier: "raw", Agg: "avg", Series: f.series[q.Metric]}, f.failWith
}

func (f *fakeClient) History(context.Context, int) ([]apiv1.Transition, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.history), f.failWith
}

func (f *fakeClient) Ack(_ context.Context, id, comment string) (apiv1.Alert, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failWith != nil {
		return apiv1.Alert{}, f.failWith
	}
	f.acks = append(f.acks, id+": "+comment)
	return apiv1.Alert{ID: id, Ack: &apiv1.Ack{By: "admin", At: testNow, Comment: comment}}, nil
}

func (f *fakeClient) AddSilence(_ context.Context, s apiv1.Silence) (apiv1.Silence, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failWith != nil {
		return apiv1.Silence{}, f.failWith
	}
	s.ID = fmt.Sprintf("s%d", len(f.silences)+1)
	f.silences = append(f.silences, s)
	return s, nil
}

func (f *fakeClient) Rules(context.Context) ([]apiv1.Rule, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.rules), f.failWith
}

func (f *fakeClient) SaveRule(_ context.Context, r apiv1.Rule, create bool) (apiv1.Rule, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failWith != nil {
		return apiv1.Rule{}, f.failWith
	}
	if create {
		r.ID = fmt.Sprintf("r%d", len(f.rules)+1)
		f.rules = append(f.rules, r)
		return r, nil
	}
	i := slices.IndexFunc(f.rules, func(x apiv1.Rule) bool { return x.ID == r.ID })
	if i < 0 {
		return apiv1.Rule{}, errors.New("no such rule")
	}
	f.rules[i] = r
	return r, nil
}

func (f *fakeClient) DeleteRule(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = slices.DeleteFunc(f.rules, func(r apiv1.Rule) bool { return r.ID == id })
	return f.failWith
}

func (f *fakeClient) Channels(context.Context) ([]apiv1.Channel, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.channels), f.failWith
}

func (f *fakeClient) TestChannel(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tested = append(f.tested, name)
	if name == "teams" {
		return errors.New("teams: webhook answered 502")
	}
	return f.failWith
}

func (f *fakeClient) Agents(context.Context) ([]apiv1.Agent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.agents), f.failWith
}

func (f *fakeClient) RevokeAgent(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.agents {
		if f.agents[i].ID == id {
			f.agents[i].Revoked, f.agents[i].Connected = true, false
		}
	}
	return f.failWith
}

func (f *fakeClient) JoinCodes(context.Context) ([]apiv1.JoinCode, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.codes), f.failWith
}

func (f *fakeClient) CreateJoinCode(_ context.Context, req apiv1.NewJoinCode) (apiv1.CreatedJoinCode, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failWith != nil {
		return apiv1.CreatedJoinCode{}, f.failWith
	}
	id := fmt.Sprintf("j%d", len(f.codes)+1)
	exp := testNow.Add(time.Duration(req.TTLSeconds) * time.Second)
	f.codes = append(f.codes, apiv1.JoinCode{ID: id, Note: req.Note, Uses: req.Uses, UsesLeft: req.Uses, ExpiresAt: exp, State: apiv1.JoinActive})
	code := "esmj_" + id + "_secret"
	return apiv1.CreatedJoinCode{ID: id, Code: code, ExpiresAt: exp, UsesLeft: req.Uses, Install: apiv1.Install{
		Linux:             "curl -fsSL https://core:8470/install.sh | sudo sh -s -- " + code,
		WindowsPowerShell: "iwr https://core:8470/install.ps1 | iex; Install-Esmon " + code,
		WindowsMSI:        "msiexec /i esmon-agent.msi JOINCODE=" + code,
	}}, nil
}

func (f *fakeClient) Users(context.Context) ([]apiv1.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.users), f.failWith
}

func (f *fakeClient) AddUser(_ context.Context, u apiv1.NewUser) (apiv1.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(u.Password) < 12 {
		return apiv1.User{}, errors.New("password: at least 12 characters")
	}
	nu := apiv1.User{Name: u.Name, Role: u.Role, Created: testNow}
	f.users = append(f.users, nu)
	return nu, nil
}

func (f *fakeClient) UpdateUser(_ context.Context, name string, p apiv1.UserPatch) (apiv1.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.users, func(u apiv1.User) bool { return u.Name == name })
	if i < 0 {
		return apiv1.User{}, errors.New("no such user")
	}
	rec := name + ":"
	if p.Role != nil {
		f.users[i].Role = *p.Role
		rec += " role=" + *p.Role
	}
	if p.Disabled != nil {
		f.users[i].Disabled = *p.Disabled
		rec += fmt.Sprintf(" disabled=%v", *p.Disabled)
	}
	f.patches = append(f.patches, rec)
	return f.users[i], nil
}

func (f *fakeClient) DeleteUser(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users = slices.DeleteFunc(f.users, func(u apiv1.User) bool { return u.Name == name })
	return nil
}

// SetupNeeded says the fake core has its admin; setup is tested against a
// real core (setup_test.go).
func (f *fakeClient) SetupNeeded(context.Context) (bool, error) { return false, nil }

func (f *fakeClient) Setup(context.Context, string, string) error {
	return errors.New("the first admin exists already")
}

// recorded returns a copy of what the fake recorded, under its lock.
func (f *fakeClient) recorded() (acks []string, silences []apiv1.Silence, tested []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.acks), slices.Clone(f.silences), slices.Clone(f.tested)
}

// uiLoop stands in for Fyne's main loop: the console's feed goroutine hands
// it work, and the test goroutine runs that work in until, so widgets are
// only ever touched by one goroutine, as in the real app.
type uiLoop struct {
	work chan func()
	quit chan struct{}
}

func newUILoop() *uiLoop {
	return &uiLoop{work: make(chan func()), quit: make(chan struct{})}
}

func (l *uiLoop) do(fn func()) {
	done := make(chan struct{})
	select {
	case l.work <- func() { fn(); close(done) }:
	case <-l.quit:
		return
	}
	select {
	case <-done:
	case <-l.quit:
	}
}

// until runs handed-over work until cond holds, failing after a while.
func (l *uiLoop) until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case fn := <-l.work:
			fn()
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// trayApp is a Fyne test app with a fake tray host: it records what the
// console puts in the tray, and quitting.
type trayApp struct {
	fyne.App
	menu   *fyne.Menu
	icon   fyne.Resource
	window fyne.Window
	quits  int

	notesMu sync.Mutex // guards notes: Notify runs on any goroutine
	notes   []string   // titles of the notifications sent
}

func (a *trayApp) SendNotification(n *fyne.Notification) {
	a.notesMu.Lock()
	defer a.notesMu.Unlock()
	a.notes = append(a.notes, n.Title)
}

// notifications returns the titles of the notifications sent so far.
func (a *trayApp) notifications() []string {
	a.notesMu.Lock()
	defer a.notesMu.Unlock()
	return slices.Clone(a.notes)
}

func (a *trayApp) SetSystemTrayMenu(m *fyne.Menu)    { a.menu = m }
func (a *trayApp) SetSystemTrayIcon(r fyne.Resource) { a.icon = r }
func (a *trayApp) SetSystemTrayWindow(w fyne.Window) { a.window = w }
func (a *trayApp) Quit()                             { a.quits++ }

// plainApp is a Fyne test app without a tray.
type plainApp struct {
	fyne.App
	quits int
}

func (a *plainApp) Quit() { a.quits++ }

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// console is a started console on a fake tray app, with its window shown.
type console struct {
	*Console
	feed     chan apiv1.Event // the first subscription's
	app      *trayApp
	loop     *uiLoop
	client   *fakeClient
	tooltips []string
}

func startConsole(t *testing.T, setup ...func(*console)) *console {
	t.Helper()
	ta := &trayApp{App: test.NewTempApp(t)}
	tc := &console{Console: NewConsole(ta, quietLogger()), app: ta, loop: newUILoop(), client: newFakeClient()}
	for _, f := range setup {
		f(tc)
	}
	tc.onUI = tc.loop.do
	tc.now = func() time.Time { return testNow }
	tc.setTooltip = func(s string) { tc.tooltips = append(tc.tooltips, s) }
	tc.feed = tc.client.feed()
	ignore := goleak.IgnoreCurrent()
	stop := tc.Start(context.Background(), tc.client)
	t.Cleanup(func() {
		close(tc.loop.quit)
		stop()
		goleak.VerifyNone(t, ignore)
	})
	tc.show()
	tc.win.Resize(fyne.NewSize(1120, 720))
	return tc
}

var testNow = time.Date(2026, 3, 2, 14, 10, 0, 0, time.Local)

func host(id, name string, cpu float64) apiv1.Host {
	return apiv1.Host{
		ID:     id,
		Facts:  apiv1.HostFacts{Hostname: name, OS: "linux", Platform: "debian", PlatformVersion: "12", Arch: "amd64", Cores: 4},
		Online: true, Status: apiv1.StatusOK, LastSeen: testNow,
		Gauges: apiv1.Gauges{CPU: cpu, Memory: 41.5, Disk: 63},
	}
}

func alert(id, rule, hostID, severity string, value float64) apiv1.Alert {
	return apiv1.Alert{
		ID: id, RuleID: "r-" + id, RuleName: rule, Host: hostID, Metric: "cpu_usage_percent",
		Severity: severity, State: apiv1.StateFiring, Value: value, Op: ">", Threshold: 90,
		Summary: "CPU above 90% for 5m", ActiveAt: testNow.Add(-10 * time.Minute), FiredAt: testNow.Add(-5 * time.Minute),
	}
}

func transition(a apiv1.Alert, to string) apiv1.Event {
	return apiv1.Event{Type: apiv1.EventAlert, Transition: &apiv1.Transition{
		Alert: a, From: a.State, To: to, At: testNow, Value: a.Value}}
}

// hostRows returns the host rows on screen, top to bottom.
func (tc *console) hostRows() []*hostRow {
	var rows []*hostRow
	for _, o := range test.LaidOutObjects(tc.win.Content()) {
		if r, ok := o.(*hostRow); ok && r.Visible() && tc.onScreen(r) {
			rows = append(rows, r)
		}
	}
	slices.SortFunc(rows, func(a, b *hostRow) int { return int(a.Position().Y - b.Position().Y) })
	return rows
}

// onScreen tells rows the list shows from rows it keeps for reuse.
func (tc *console) onScreen(o fyne.CanvasObject) bool {
	return o.Size().Width > 0 && o.Size().Height > 0
}

func (tc *console) hostRow(name string) *hostRow {
	for _, r := range tc.hostRows() {
		if n, _ := twoLinesText(r.title); n == name {
			return r
		}
	}
	return nil
}

// alertRules returns the rule names of the alert rows on screen, top to
// bottom, with each row's value column.
func (tc *console) alertRows() []*alertRow {
	var rows []*alertRow
	for _, o := range test.LaidOutObjects(tc.win.Content()) {
		if r, ok := o.(*alertRow); ok && r.Visible() && tc.onScreen(r) {
			rows = append(rows, r)
		}
	}
	slices.SortFunc(rows, func(a, b *alertRow) int { return int(a.Position().Y - b.Position().Y) })
	var live []*alertRow
	for _, r := range rows {
		if id, _ := twoLinesText(r.title); id != "" && len(live) < len(tc.model.alerts) {
			live = append(live, r)
		}
	}
	return live
}

func (tc *console) alertRule(rule string) *alertRow {
	for _, r := range tc.alertRows() {
		if n, _ := twoLinesText(r.title); n == rule {
			return r
		}
	}
	return nil
}

func menuLabels(m *fyne.Menu) (status string, actions []string) {
	for i, it := range m.Items {
		switch {
		case it.IsSeparator:
		case i == 0 && it.Disabled:
			status = it.Label
		default:
			actions = append(actions, it.Label)
		}
	}
	return status, actions
}

// assertTray checks the tray's icon, tooltip, menu status line and items.
func (tc *console) assertTray(t *testing.T, worst, tooltip string) {
	t.Helper()
	if got := tc.TrayStatus().Worst(); got != worst {
		t.Errorf("tray worst = %q, want %q", got, worst)
	}
	if tc.app.icon != TrayIcon(worst) {
		t.Errorf("tray icon = %v, want the %s icon", tc.app.icon.Name(), worst)
	}
	if n := len(tc.tooltips); n == 0 || tc.tooltips[n-1] != tooltip {
		t.Errorf("tooltips = %q, want last %q", tc.tooltips, tooltip)
	}
	status, actions := menuLabels(tc.app.menu)
	if status != tooltip {
		t.Errorf("tray menu status line = %q, want %q", status, tooltip)
	}
	want := []string{MenuOpen, fmt.Sprintf("%s (%d)", MenuAlerts, len(tc.model.alerts)), MenuAck, MenuSnooze, MenuOpenWeb, MenuQuit}
	if !slices.Equal(actions, want) {
		t.Errorf("tray menu items = %q, want %q", actions, want)
	}
}

func TestConsoleFollowsLiveFeed(t *testing.T) {
	tc := startConsole(t)
	feed := tc.feed

	tc.assertTray(t, apiv1.StatusOffline, "esmon: disconnected")
	if got, _ := tc.connText.Get(); got != "Disconnected, reconnecting…" {
		t.Errorf("connection before the snapshot = %q", got)
	}

	// The snapshot lists the hosts by name, whatever order they come in.
	feed <- apiv1.Event{Type: apiv1.EventSnapshot, Hosts: []apiv1.Host{
		host("h2", "web-01", 12.3), host("h1", "db-01", 55),
	}}
	tc.loop.until(t, "two host rows", func() bool { return len(tc.hostRows()) == 2 })
	var names []string
	for _, r := range tc.hostRows() {
		n, _ := twoLinesText(r.title)
		names = append(names, n)
	}
	if want := []string{"db-01", "web-01"}; !slices.Equal(names, want) {
		t.Errorf("host rows = %q, want %q", names, want)
	}
	web := tc.hostRow("web-01")
	if _, sub := twoLinesText(web.title); sub != "debian 12 · linux/amd64 · 4 cores" {
		t.Errorf("web-01 system line = %q", sub)
	}
	for _, g := range []struct {
		g    *gauge
		want string
	}{{web.cpu, "CPU 12%"}, {web.memory, "Memory 42%"}, {web.disk, "Disk 63%"}} {
		if got := g.g.Text(); got != g.want {
			t.Errorf("gauge = %q, want %q", got, g.want)
		}
	}
	if web.status.text != "ONLINE" {
		t.Errorf("web-01 badge = %q, want ONLINE", web.status.text)
	}
	if got, _ := tc.connText.Get(); got != "Live" {
		t.Errorf("connection after the snapshot = %q, want Live", got)
	}
	if got, _ := tc.hostsText.Get(); got != "· 2 hosts, 2 online" {
		t.Errorf("host summary = %q", got)
	}
	if !tc.noAlerts.Visible() {
		t.Error(`"No active alerts" hidden with no alerts`)
	}
	tc.assertTray(t, apiv1.StatusOK, "esmon: OK")

	// A host event updates the row's gauges.
	hot := host("h2", "web-01", 97.2)
	feed <- apiv1.Event{Type: apiv1.EventHost, Host: &hot}
	tc.loop.until(t, "web-01 CPU gauge at 97%", func() bool {
		r := tc.hostRow("web-01")
		return r != nil && r.cpu.Text() == "CPU 97%"
	})

	// An alert fires: it shows, and the tray turns critical.
	cpu := alert("a1", "High CPU", "h2", apiv1.SeverityCritical, 97.2)
	feed <- transition(cpu, apiv1.StateFiring)
	tc.loop.until(t, "the High CPU alert row", func() bool { return tc.alertRule("High CPU") != nil })
	row := tc.alertRule("High CPU")
	title, sub := twoLinesText(row.title)
	value, since := twoLinesText(row.value)
	if title != "High CPU" || sub != "web-01 · CPU above 90% for 5m" {
		t.Errorf("alert row title = %q / %q", title, sub)
	}
	if value != "97.2% > 90%" || since != "since 14:05 (5m)" {
		t.Errorf("alert row value = %q / %q", value, since)
	}
	if row.severity.text != "CRITICAL" || row.severity.fill != StatusColor(apiv1.SeverityCritical) {
		t.Errorf("alert badge = %q %v", row.severity.text, row.severity.fill)
	}
	if tc.noAlerts.Visible() {
		t.Error(`"No active alerts" shown over an alert`)
	}
	if got := tc.chips[apiv1.SeverityCritical].text; got != "1 CRITICAL" {
		t.Errorf("critical chip = %q", got)
	}
	tc.assertTray(t, apiv1.SeverityCritical, "esmon: 1 critical")

	// A warning joins; the critical one stays on top.
	mem := alert("a2", "High memory", "h1", apiv1.SeverityWarning, 91)
	mem.Metric = "memory_used_percent"
	feed <- transition(mem, apiv1.StateFiring)
	tc.loop.until(t, "two alert rows", func() bool { return len(tc.alertRows()) == 2 })
	var rules []string
	for _, r := range tc.alertRows() {
		n, _ := twoLinesText(r.title)
		rules = append(rules, n)
	}
	if want := []string{"High CPU", "High memory"}; !slices.Equal(rules, want) {
		t.Errorf("alert rows = %q, want %q", rules, want)
	}
	tc.assertTray(t, apiv1.SeverityCritical, "esmon: 1 critical, 1 warning")

	// Both resolve: the list empties and the tray is OK again.
	feed <- transition(cpu, apiv1.StateResolved)
	tc.loop.until(t, "High CPU gone", func() bool { return tc.alertRule("High CPU") == nil })
	tc.assertTray(t, apiv1.SeverityWarning, "esmon: 1 warning")
	feed <- transition(mem, apiv1.StateResolved)
	tc.loop.until(t, "no alert rows", func() bool { return len(tc.model.alerts) == 0 && len(tc.alertRows()) == 0 })
	tc.assertTray(t, apiv1.StatusOK, "esmon: OK")
	if !tc.noAlerts.Visible() {
		t.Error(`"No active alerts" hidden after the alerts resolved`)
	}

	// The feed ends: the console says so and subscribes again.
	next := tc.client.feed()
	close(feed)
	tc.loop.until(t, "disconnected", func() bool { return !tc.model.connected })
	tc.assertTray(t, apiv1.StatusOffline, "esmon: disconnected")
	next <- apiv1.Event{Type: apiv1.EventSnapshot, Hosts: []apiv1.Host{host("h1", "db-01", 5)},
		Alerts: []apiv1.Alert{alert("a3", "Disk full", "h1", apiv1.SeverityVeryCritical, 99)}}
	tc.loop.until(t, "the new snapshot", func() bool { return tc.model.connected && len(tc.hostRows()) == 1 })
	tc.assertTray(t, apiv1.SeverityVeryCritical, "esmon: 1 very critical")
}

func TestConsoleCloseWindow(t *testing.T) {
	t.Run("with a tray it hides", func(t *testing.T) {
		tc := startConsole(t)
		if !tc.Visible() {
			t.Fatal("window not visible after show")
		}
		tc.closeWindow()
		if tc.Visible() {
			t.Error("window still visible after close")
		}
		if tc.app.quits != 0 {
			t.Errorf("closing the window quit the app %d times", tc.app.quits)
		}
		if !slices.Contains(tc.app.Driver().AllWindows(), tc.win) {
			t.Error("closing the window destroyed it")
		}
		if tc.app.window != tc.win {
			t.Error("the tray does not control the console window")
		}
		// Open from the tray brings it back; Quit quits.
		items := map[string]*fyne.MenuItem{}
		for _, it := range tc.app.menu.Items {
			items[it.Label] = it
		}
		items[MenuOpen].Action()
		if !tc.Visible() {
			t.Error("Open from the tray left the window hidden")
		}
		items[MenuQuit].Action()
		if tc.app.quits != 1 {
			t.Errorf("Quit from the tray: quits = %d, want 1", tc.app.quits)
		}
	})
	t.Run("without a tray it quits", func(t *testing.T) {
		pa := &plainApp{App: test.NewTempApp(t)}
		c := NewConsole(pa, quietLogger())
		c.onUI = func(func()) {}
		ignore := goleak.IgnoreCurrent()
		stop := c.Start(context.Background(), newFakeClient())
		c.show()
		c.closeWindow()
		stop()
		if pa.quits != 1 {
			t.Errorf("closing the only way back: quits = %d, want 1", pa.quits)
		}
		goleak.VerifyNone(t, ignore)
	})
}

func TestConsoleNotify(t *testing.T) {
	c := NewConsole(test.NewTempApp(t), quietLogger())
	a := alert("a1", "High CPU", "web-01", apiv1.SeverityCritical, 97.2)
	test.AssertNotificationSent(t,
		fyne.NewNotification("FIRING critical: High CPU", "web-01: 97.2% > 90%\nCPU above 90% for 5m"),
		func() {
			c.Notify(apiv1.Transition{Alert: a, From: apiv1.StatePending, To: apiv1.StateFiring, Value: 97.2})
		})
}

func TestNotificationFor(t *testing.T) {
	cpu := alert("a1", "High CPU", "web-01", apiv1.SeverityCritical, 97.2)
	disk := alert("a2", "Disk full", "db-01", apiv1.SeverityVeryCritical, 99)
	disk.Metric, disk.Summary = "disk_used_percent", ""
	offline := apiv1.Alert{RuleName: "Agent offline", Host: "app-03", Severity: apiv1.SeverityCritical,
		Metric: "", Op: ">", Threshold: 60, Value: 75}
	tests := []struct {
		name           string
		tr             apiv1.Transition
		title, content string
	}{
		{"firing", apiv1.Transition{Alert: cpu, To: apiv1.StateFiring, Value: 97.2},
			"FIRING critical: High CPU", "web-01: 97.2% > 90%\nCPU above 90% for 5m"},
		{"resolved with the clearing value", apiv1.Transition{Alert: cpu, From: apiv1.StateFiring, To: apiv1.StateResolved, Value: 42},
			"RESOLVED: High CPU", "web-01: now 42% (threshold > 90%)\nCPU above 90% for 5m"},
		{"very critical, no summary", apiv1.Transition{Alert: disk, To: apiv1.StateFiring, Value: 99.04},
			"FIRING very critical: Disk full", "db-01: 99% > 90%"},
		{"no metric unit", apiv1.Transition{Alert: offline, To: apiv1.StateFiring},
			"FIRING critical: Agent offline", "app-03: 75 > 60"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := NotificationFor(tt.tr)
			if n.Title != tt.title || n.Content != tt.content {
				t.Errorf("got %q / %q, want %q / %q", n.Title, n.Content, tt.title, tt.content)
			}
		})
	}
}

// TestLiveEventsBatched checks that a burst of live events reaches the UI
// goroutine in a few batches, not one trip (and redraw) per event.
func TestLiveEventsBatched(t *testing.T) {
	var trips int
	tc := startConsole(t, func(tc *console) {
		do := tc.loop.do
		tc.onUI = func(fn func()) { do(func() { trips++; fn() }) }
	})
	var hosts []apiv1.Host
	for i := range 100 {
		hosts = append(hosts, host(fmt.Sprintf("h%03d", i), fmt.Sprintf("srv-%03d", i), 10))
	}
	tc.snapshot(t, hosts)
	trips = 0
	go func() {
		for i := range 300 {
			h := host(fmt.Sprintf("h%03d", i%100), fmt.Sprintf("srv-%03d", i%100), float64(i%100))
			tc.feed <- apiv1.Event{Type: apiv1.EventHost, Host: &h}
		}
		last := host("h000", "srv-000", 100)
		tc.feed <- apiv1.Event{Type: apiv1.EventHost, Host: &last}
	}()
	tc.loop.until(t, "the last update", func() bool { return tc.model.hosts[0].Gauges.CPU == 100 })
	if got := tc.model.hosts[tc.model.hostIndex["h050"]].Gauges.CPU; got != 50 {
		t.Errorf("h050 CPU = %v, want its last value 50", got)
	}
	if trips >= 30 {
		t.Errorf("300 events took %d trips to the UI goroutine, want them batched", trips)
	}
}
