package ui

import (
	"errors"
	"image"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"esmon/core/apiv1"
)

// menuItem finds a menu item by the start of its label, through submenus:
// menuItem(m, MenuAck, "CRITICAL High CPU").
func menuItem(t *testing.T, m *fyne.Menu, path ...string) *fyne.MenuItem {
	t.Helper()
	items := m.Items
	var found *fyne.MenuItem
	for _, label := range path {
		found = nil
		for _, it := range items {
			if !it.IsSeparator && strings.HasPrefix(it.Label, label) {
				found = it
				break
			}
		}
		if found == nil {
			t.Fatalf("no menu item %q in %q", label, path)
		}
		if found.ChildMenu != nil {
			items = found.ChildMenu.Items
		}
	}
	return found
}

// snapshot sends a snapshot and waits for the console to show it.
func (tc *console) snapshot(t *testing.T, hosts []apiv1.Host, alerts ...apiv1.Alert) {
	t.Helper()
	tc.feed <- apiv1.Event{Type: apiv1.EventSnapshot, Hosts: hosts, Alerts: alerts}
	tc.loop.until(t, "the snapshot", func() bool {
		return tc.model.connected && len(tc.model.hosts) == len(hosts) && len(tc.model.alerts) == len(alerts)
	})
}

func TestTraySnoozeAndAck(t *testing.T) {
	tc := startConsole(t)
	cpu := alert("a1", "High CPU", "h1", apiv1.SeverityCritical, 97)
	tc.snapshot(t, []apiv1.Host{host("h1", "web-01", 97)}, cpu)
	firing := apiv1.Transition{Alert: cpu, From: apiv1.StatePending, To: apiv1.StateFiring, Value: 97}

	// Notifications go out until the operator snoozes them from the tray.
	tc.Notify(firing)
	if got := tc.app.notifications(); !slices.Equal(got, []string{"FIRING critical: High CPU"}) {
		t.Fatalf("notifications before the snooze = %q", got)
	}
	menuItem(t, tc.app.menu, MenuSnooze, MenuSnooze15).Action()
	if got, want := tc.SnoozedUntil(), testNow.Add(15*time.Minute); !got.Equal(want) {
		t.Errorf("snoozed until %v, want %v", got, want)
	}
	if got := menuItem(t, tc.app.menu, MenuSnooze).Label; got != MenuSnooze+" (until 14:25)" {
		t.Errorf("snooze item after snoozing = %q", got)
	}
	tc.Notify(firing)
	if got := tc.app.notifications(); len(got) != 1 {
		t.Errorf("a snoozed console notified: %q", got)
	}
	// The snooze ends by itself; Resume ends it at once.
	tc.now = func() time.Time { return testNow.Add(16 * time.Minute) }
	tc.Notify(firing)
	if got := tc.app.notifications(); len(got) != 2 {
		t.Errorf("notifications after the snooze ended = %q, want 2", got)
	}
	menuItem(t, tc.app.menu, MenuSnooze, MenuSnooze60).Action()
	menuItem(t, tc.app.menu, MenuSnooze, MenuResume).Action()
	tc.Notify(firing)
	if got := tc.app.notifications(); len(got) != 3 {
		t.Errorf("notifications after Resume = %q, want 3", got)
	}

	// Acknowledge from the tray: the core hears it, and once the feed
	// brings the acknowledged alert back, the tray offers it no more.
	menuItem(t, tc.app.menu, MenuAck, "CRITICAL High CPU — h1").Action()
	tc.loop.until(t, "the acknowledgement to reach the core", func() bool {
		acks, _, _ := tc.client.recorded()
		return len(acks) == 1
	})
	if acks, _, _ := tc.client.recorded(); acks[0] != "a1: acknowledged from the tray" {
		t.Errorf("ack sent = %q", acks[0])
	}
	acked := cpu
	acked.Ack = &apiv1.Ack{By: "admin", At: testNow, Comment: "acknowledged from the tray"}
	tc.feed <- apiv1.Event{Type: apiv1.EventAlert, Transition: &apiv1.Transition{Alert: acked,
		From: apiv1.StateFiring, To: apiv1.StateFiring, Reason: "acknowledged", At: testNow}}
	tc.loop.until(t, "the acknowledged alert", func() bool { return tc.model.alerts[0].Ack != nil })
	if got := menuItem(t, tc.app.menu, MenuAck, menuAllAcked); !got.Disabled {
		t.Error("the Acknowledge menu still offers an acknowledged alert")
	}
	if got := menuItem(t, tc.app.menu, MenuAlerts, "CRITICAL").Label; got != "CRITICAL High CPU — h1 (acknowledged by admin)" {
		t.Errorf("active alert item = %q", got)
	}
	// The overview's alert row says who acknowledged it, when and why.
	row := tc.alertRule("High CPU")
	if _, sub := twoLinesText(row.title); sub != "web-01 · CPU above 90% for 5m · acknowledged by admin at 14:10: acknowledged from the tray" {
		t.Errorf("alert row after the ack = %q", sub)
	}

	// An alert item of the tray opens the console on that alert.
	tc.closeWindow()
	menuItem(t, tc.app.menu, MenuAlerts, "CRITICAL").Action()
	if !tc.Visible() || tc.tabs.Selected() != tc.alertsTab || tc.alerts.Selected() != "a1" {
		t.Errorf("tray alert item: visible %v, tab %q, alert %q", tc.Visible(), tc.tabs.Selected().Text, tc.alerts.Selected())
	}
}

func TestNotifyFromFeed(t *testing.T) {
	tc := startConsole(t, func(tc *console) { tc.SetOptions(Options{NotifyFromFeed: true}) })
	tc.snapshot(t, []apiv1.Host{host("h1", "web-01", 10)})
	cpu := alert("a1", "High CPU", "h1", apiv1.SeverityCritical, 97)
	warn := alert("a2", "High memory", "h1", apiv1.SeverityWarning, 91)
	muted := alert("a3", "Disk full", "h1", apiv1.SeverityVeryCritical, 99)
	events := []apiv1.Transition{
		{Alert: warn, From: apiv1.StatePending, To: apiv1.StateFiring},               // below critical
		{Alert: muted, From: apiv1.StatePending, To: apiv1.StateFiring, Muted: true}, // silenced
		{Alert: cpu, From: apiv1.StateInactive, To: apiv1.StatePending},              // not firing yet
		{Alert: cpu, From: apiv1.StatePending, To: apiv1.StateFiring},                // notified
		{Alert: cpu, From: apiv1.StateFiring, To: apiv1.StateFiring, Reason: "acknowledged"},
		{Alert: cpu, From: apiv1.StateFiring, To: apiv1.StateResolved}, // notified
	}
	for _, tr := range events {
		tc.feed <- apiv1.Event{Type: apiv1.EventAlert, Transition: &tr}
	}
	tc.loop.until(t, "the transitions", func() bool { return len(tc.model.alerts) == 2 })
	want := []string{"FIRING critical: High CPU", "RESOLVED: High CPU"}
	if got := tc.app.notifications(); !slices.Equal(got, want) {
		t.Errorf("notifications = %q, want %q", got, want)
	}
}

// TestOpenAlertByID opens alerts by ID only, as a clicked notification
// does: one before the live feed's snapshot has come (esmon started by the
// click), which the Alerts screen selects once the snapshot brings it, and
// one that is over, which it shows from the history.
func TestOpenAlertByID(t *testing.T) {
	tc := startConsole(t)
	cpu := alert("a1", "High CPU", "h1", apiv1.SeverityCritical, 97)
	disk := alert("a2", "Disk full", "h1", apiv1.SeverityVeryCritical, 99)
	over := disk
	over.State, over.ResolvedAt = apiv1.StateResolved, testNow.Add(-time.Minute)
	tc.client.history = []apiv1.Transition{
		{Alert: over, From: apiv1.StateFiring, To: apiv1.StateResolved, At: testNow.Add(-time.Minute), Value: 80},
	}
	v := tc.alerts

	tc.OpenAlert(apiv1.Alert{ID: "a1"})
	if tc.ShownAlert() != "a1" || v.detail.Visible() {
		t.Errorf("before the snapshot: shown %q, detail hidden %v; want a1 with nothing to show yet", tc.ShownAlert(), !v.detail.Visible())
	}
	tc.snapshot(t, []apiv1.Host{host("h1", "web-01", 97)}, cpu)
	if title, _ := twoLinesText(v.title); tc.ShownAlert() != "a1" || !v.detail.Visible() || title != "High CPU" ||
		v.mode.Selected != AlertsActive || v.severity.text != "CRITICAL · FIRING" {
		t.Errorf("after the snapshot: shown %q, detail hidden %v, title %q, list %q, badge %q",
			tc.ShownAlert(), !v.detail.Visible(), title, v.mode.Selected, v.severity.text)
	}

	tc.OpenAlert(apiv1.Alert{ID: "a2"})
	tc.loop.until(t, "the resolved alert from the history", func() bool { return v.detail.Visible() })
	if title, _ := twoLinesText(v.title); tc.ShownAlert() != "a2" || title != "Disk full" ||
		v.mode.Selected != AlertsHistory || v.severity.text != "VERY CRITICAL · RESOLVED" {
		t.Errorf("resolved alert: shown %q, title %q, list %q, badge %q", tc.ShownAlert(), title, v.mode.Selected, v.severity.text)
	}

	tc.closeWindow()
	if tc.ShownAlert() != "" {
		t.Errorf("hidden window still shows alert %q", tc.ShownAlert())
	}
}

func TestAlertsScreen(t *testing.T) {
	tc := startConsole(t)
	cpu := alert("a1", "High CPU", "h1", apiv1.SeverityCritical, 97)
	tc.client.history = []apiv1.Transition{
		{Alert: cpu, From: apiv1.StatePending, To: apiv1.StateFiring, At: testNow.Add(-5 * time.Minute), Value: 97},
	}
	tc.snapshot(t, []apiv1.Host{host("h1", "web-01", 97)}, cpu)

	tc.OpenAlert(cpu)
	v := tc.alerts
	if title, sub := twoLinesText(v.title); title != "High CPU" || sub != "web-01" {
		t.Errorf("detail title = %q / %q", title, sub)
	}
	if v.severity.text != "CRITICAL · FIRING" || v.severity.fill != StatusColor(apiv1.SeverityCritical) {
		t.Errorf("detail badge = %q %v", v.severity.text, v.severity.fill)
	}
	if first, _ := twoLinesText(v.ackBy); first != "Not acknowledged" || v.ackBtn.Disabled() {
		t.Errorf("before the ack: %q, button disabled %v", first, v.ackBtn.Disabled())
	}

	// Acknowledge with a comment; the live feed brings the ack back.
	v.Ack("a1", "disk cleanup running")
	tc.loop.until(t, "the ack outcome", func() bool { return v.note.Text == "Acknowledged." })
	acked := cpu
	acked.Ack = &apiv1.Ack{By: "maria", At: testNow.Add(-time.Minute), Comment: "disk cleanup running"}
	tc.feed <- apiv1.Event{Type: apiv1.EventAlert, Transition: &apiv1.Transition{Alert: acked,
		From: apiv1.StateFiring, To: apiv1.StateFiring, Reason: "acknowledged", At: testNow}}
	tc.loop.until(t, "the ack on screen", func() bool {
		_, who := twoLinesText(v.ackBy)
		return who == "acknowledged by maria at 14:09: disk cleanup running"
	})
	if !v.ackBtn.Disabled() {
		t.Error("Acknowledge stays enabled on an acknowledged alert")
	}

	// Silence the rule on the host for an hour, with a comment.
	v.Silence(acked, time.Hour, "patching tonight")
	tc.loop.until(t, "the silence outcome", func() bool { return strings.HasPrefix(v.note.Text, "Silenced until") })
	_, sils, _ := tc.client.recorded()
	if len(sils) != 1 || sils[0].Match["host"] != "h1" || sils[0].Match["rule"] != "r-a1" ||
		!sils[0].EndsAt.Equal(testNow.Add(time.Hour)) || sils[0].Comment != "patching tonight" {
		t.Errorf("silence sent = %+v", sils)
	}

	// A refused action says why.
	tc.client.mu.Lock()
	tc.client.failWith = errors.New("you may not acknowledge alerts (viewer)")
	tc.client.mu.Unlock()
	v.Ack("a1", "again")
	tc.loop.until(t, "the refusal", func() bool {
		return v.note.Text == "Could not acknowledge: you may not acknowledge alerts (viewer)"
	})
	tc.client.mu.Lock()
	tc.client.failWith = nil
	tc.client.mu.Unlock()

	// The history lists past transitions with their acks, and follows
	// the live feed while shown.
	v.mode.SetSelected(AlertsHistory)
	tc.loop.until(t, "the history", func() bool { return len(v.past) == 1 })
	resolved := apiv1.Transition{Alert: acked, From: apiv1.StateFiring, To: apiv1.StateResolved, At: testNow, Value: 40}
	tc.feed <- apiv1.Event{Type: apiv1.EventAlert, Transition: &resolved}
	tc.loop.until(t, "the resolution in the history", func() bool { return len(v.past) == 2 })
	r := newHistoryRow()
	r.set(v.past[0], "web-01", tc.now)
	if title, sub := twoLinesText(r.title); title != "High CPU" ||
		sub != "web-01 · firing → resolved · acknowledged by maria at 14:09: disk cleanup running" {
		t.Errorf("history row = %q / %q", title, sub)
	}
	if r.state.text != "RESOLVED" || r.state.fill != StatusColor(apiv1.StatusOK) {
		t.Errorf("history badge = %q %v", r.state.text, r.state.fill)
	}
}

func TestOverviewFilter(t *testing.T) {
	tc := startConsole(t)
	hot := host("h3", "db-02", 97)
	hot.Status = apiv1.SeverityCritical
	tc.snapshot(t, []apiv1.Host{host("h1", "web-01", 10), host("h2", "db-01", 20), hot})

	names := func() []string {
		var out []string
		for _, r := range tc.hostRows() {
			n, _ := twoLinesText(r.title)
			out = append(out, n)
		}
		return out
	}
	tests := []struct {
		filter string
		want   []string
		title  string
	}{
		{"", []string{"db-01", "db-02", "web-01"}, "Hosts (3)"},
		{"db", []string{"db-01", "db-02"}, "Hosts (2 of 3)"},
		{"critical", []string{"db-02"}, "Hosts (1 of 3)"},
		{"DB online", []string{"db-01"}, "Hosts (1 of 3)"},
		{"nothing-like-it", nil, "Hosts (0 of 3)"},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			tc.filterEntry.SetText(tt.filter)
			if got := names(); !slices.Equal(got, tt.want) {
				t.Errorf("rows = %q, want %q", got, tt.want)
			}
			if got, _ := tc.hostsTitle.Get(); got != tt.title {
				t.Errorf("title = %q, want %q", got, tt.title)
			}
		})
	}

	// A host that turns critical joins a "critical" filter.
	tc.filterEntry.SetText("critical")
	web := host("h1", "web-01", 99)
	web.Status = apiv1.SeverityCritical
	tc.feed <- apiv1.Event{Type: apiv1.EventHost, Host: &web}
	tc.loop.until(t, "web-01 in the critical filter", func() bool { return len(tc.hostRows()) == 2 })
	// Gauges of a shown host update in place.
	web.Gauges.CPU = 55
	tc.feed <- apiv1.Event{Type: apiv1.EventHost, Host: &web}
	tc.loop.until(t, "web-01's new CPU", func() bool {
		r := tc.hostRow("web-01")
		return r != nil && r.cpu.Text() == "CPU 55%"
	})
}

func TestHostDetail(t *testing.T) {
	tc := startConsole(t)
	pts := func(vals ...float64) []apiv1.Point {
		var out []apiv1.Point
		for i, v := range vals {
			out = append(out, apiv1.Point{T: testNow.Add(time.Duration(i-len(vals)) * time.Minute).UnixMilli(), V: v})
		}
		return out
	}
	tc.client.series = map[string][]apiv1.Series{
		"cpu_usage_percent": {{Metric: "cpu_usage_percent", Labels: map[string]string{"host": "h1"}, Points: pts(10, 40, 90, 20)}},
		"disk_used_percent": {
			{Metric: "disk_used_percent", Labels: map[string]string{"host": "h1", "mount": "/"}, Points: pts(50, 51)},
			{Metric: "disk_used_percent", Labels: map[string]string{"host": "h1", "mount": "/var"}, Points: pts(80, 82)},
		},
	}
	tc.snapshot(t, []apiv1.Host{host("h1", "web-01", 20)})

	tc.openHost("h1")
	d := tc.detail
	tc.loop.until(t, "the CPU chart", func() bool { return d.charts[0].Message() == "" })
	if title, _ := twoLinesText(d.title); title != "web-01" || tc.overviewPane.Visible() {
		t.Errorf("detail title %q, overview visible %v", title, tc.overviewPane.Visible())
	}
	if got := d.charts[0].series[0].Points; len(got) != 4 || got[2].V != 90 {
		t.Errorf("CPU chart points = %v", got)
	}
	var disk []string
	for _, s := range d.charts[2].series {
		disk = append(disk, s.Name)
	}
	if !slices.Equal(disk, []string{"/", "/var"}) {
		t.Errorf("disk chart series = %q, want one per mount", disk)
	}
	if d.charts[4].Message() != "No data in this range" {
		t.Errorf("JVM chart of a host without a JVM says %q", d.charts[4].Message())
	}

	// The range picker asks again over the new range, at a coarser step.
	tests := []struct {
		label string
		span  time.Duration
		step  time.Duration
	}{
		{"15m", 15 * time.Minute, 0},
		{"24h", 24 * time.Hour, 4 * time.Minute},
		{"30d", 30 * 24 * time.Hour, 2 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			tc.client.mu.Lock()
			tc.client.queries = nil
			tc.client.mu.Unlock()
			d.picker.SetSelected(tt.label)
			tc.loop.until(t, "the queries", func() bool {
				tc.client.mu.Lock()
				defer tc.client.mu.Unlock()
				return !d.loading && len(tc.client.queries) > 0
			})
			tc.client.mu.Lock()
			defer tc.client.mu.Unlock()
			metrics := map[string]bool{}
			for _, q := range tc.client.queries {
				metrics[q.Metric] = true
				if q.Host != "h1" || q.To.Sub(q.From) != tt.span || q.Step != tt.step {
					t.Errorf("query %s: host %q, span %v, step %v; want h1, %v, %v", q.Metric, q.Host, q.To.Sub(q.From), q.Step, tt.span, tt.step)
				}
				if strings.HasSuffix(q.Metric, "_total") != (q.Agg == "rate") {
					t.Errorf("query %s with agg %q", q.Metric, q.Agg)
				}
			}
			for _, m := range []string{"cpu_usage_percent", "memory_used_percent", "disk_used_percent",
				"network_received_bytes_total", "network_sent_bytes_total", "jvm_heap_used_percent"} {
				if !metrics[m] {
					t.Errorf("no query of %s", m)
				}
			}
		})
	}

	// A failed query says so on the chart.
	tc.client.mu.Lock()
	tc.client.failWith = errors.New("core unreachable")
	tc.client.mu.Unlock()
	d.picker.SetSelected("1h")
	tc.loop.until(t, "the failure on the chart", func() bool {
		return d.charts[0].Message() == "Could not load: core unreachable"
	})

	tc.closeHost()
	if !tc.overviewPane.Visible() || d.root.Visible() {
		t.Error("Back did not return to the overview")
	}
}

func TestChartRenders(t *testing.T) {
	test.NewTempApp(t)
	from := time.Date(2026, 3, 2, 13, 0, 0, 0, time.Local)
	to := from.Add(time.Hour)
	var up, flat []ChartPoint
	for i := 0; i <= 60; i++ {
		tm := from.Add(time.Duration(i) * time.Minute)
		up = append(up, ChartPoint{T: tm, V: float64(i)})
		flat = append(flat, ChartPoint{T: tm, V: 20})
	}
	c := NewChart("CPU", percentText, 100)
	c.SetData(from, to, []ChartSeries{{Name: "total", Points: up}, {Name: "idle", Points: flat}})
	w := test.NewWindow(c)
	defer w.Close()
	w.Resize(fyne.NewSize(640, 300))

	// Its objects: axis labels in round steps and clock times, a legend,
	// and line segments for both series.
	r := test.WidgetRenderer(c)
	var texts []string
	lines := map[string]int{}
	for _, o := range r.Objects() {
		switch o := o.(type) {
		case *canvas.Text:
			texts = append(texts, o.Text)
		case *canvas.Line:
			lines[colorKey(o.StrokeColor)]++
		}
	}
	for _, want := range []string{"CPU", "0%", "50%", "100%", "13:00", "13:30", "14:00", "● total", "● idle"} {
		if !slices.Contains(texts, want) {
			t.Errorf("chart texts %q lack %q", texts, want)
		}
	}
	if lines[colorKey(chartColors[0])] < 20 || lines[colorKey(chartColors[1])] < 20 {
		t.Errorf("line segments by colour = %v, want both series drawn", lines)
	}

	// Its pixels: the first series' colour is on screen.
	img := w.Canvas().Capture()
	if n := countColor(img, chartColors[0]); n < 100 {
		t.Errorf("%d pixels of the first series' colour, want a drawn line", n)
	}

	// The crosshair follows the mouse and reads the values under it.
	mid := c.layoutFor(c.Size())
	x := mid.xOf(from.Add(30 * time.Minute))
	c.MouseMoved(&desktop.MouseEvent{PointEvent: fyne.PointEvent{Position: fyne.NewPos(x, 100)}})
	if got := c.Readout(x); got != "13:30:00 · total 30% · idle 20%" {
		t.Errorf("readout = %q", got)
	}
	var readout string
	for _, o := range test.WidgetRenderer(c).Objects() {
		if tx, ok := o.(*canvas.Text); ok && strings.HasPrefix(tx.Text, "13:30:00") {
			readout = tx.Text
		}
	}
	if readout == "" {
		t.Error("hovering shows no readout")
	}
	c.MouseOut()
	if c.Readout(-1) != "" {
		t.Error("a readout off the plot")
	}

	c.SetMessage("Could not load: timeout")
	if c.Message() != "Could not load: timeout" || hasPoints(c.series) {
		t.Errorf("after a failure: message %q, series %d", c.Message(), len(c.series))
	}
}

func colorKey(c interface{ RGBA() (r, g, b, a uint32) }) string {
	r, g, b, _ := c.RGBA()
	return hexColor(uint8(r>>8), uint8(g>>8), uint8(b>>8))
}

func countColor(img image.Image, want interface{ RGBA() (r, g, b, a uint32) }) int {
	wr, wg, wb, _ := want.RGBA()
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if absDiff(r, wr) < 0x1800 && absDiff(g, wg) < 0x1800 && absDiff(bl, wb) < 0x1800 {
				n++
			}
		}
	}
	return n
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

func TestRulesScreen(t *testing.T) {
	tc := startConsole(t)
	tc.client.rules = []apiv1.Rule{
		{ID: "r1", Name: "High CPU", Kind: apiv1.RuleThreshold, Metric: "cpu_usage_percent", Op: ">", Threshold: 90,
			For: apiv1.Duration(5 * time.Minute), Severity: apiv1.SeverityCritical, Enabled: true,
			Channels: []string{"teams"}, UpdatedBy: "maria", UpdatedAt: testNow},
		{ID: "r2", Name: "Agent offline", Kind: apiv1.RuleAgentOffline, For: apiv1.Duration(time.Minute),
			Severity: apiv1.SeverityCritical},
	}
	v := tc.rules
	v.load()
	tc.loop.until(t, "the rules", func() bool { return len(v.rules) == 2 })
	if got := ruleText(v.rules[1]); got != "cpu_usage_percent > 90 for 5m0s · critical" {
		t.Errorf("High CPU reads %q", got)
	}
	if got := ruleText(v.rules[0]); got != "no data for 1m0s · critical · disabled" {
		t.Errorf("Agent offline reads %q", got)
	}

	// Edit: the form shows the rule; a changed threshold is saved with the
	// rule's routing kept.
	v.list.Select(1)
	if v.name.Text != "High CPU" || v.threshold.Text != "90" || v.forDur.Text != "5m0s" || v.severity.Selected != "critical" {
		t.Errorf("form = %q %q %q %q", v.name.Text, v.threshold.Text, v.forDur.Text, v.severity.Selected)
	}
	tests := []struct {
		name, threshold, match, forDur string
		note                           string
	}{
		{"not a number", "ninety", "", "5m", "Not saved: threshold: \"ninety\" is not a number"},
		{"bad matcher", "95", "host", "5m", "Not saved: match: \"host\" is not name=value"},
		{"bad duration", "95", "", "5 minutes", "Not saved: for: \"5 minutes\" is not a duration like 5m"},
		{"saved", "95", "host=web-01, mount=/", "10m", "Saved High CPU."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v.threshold.SetText(tt.threshold)
			v.match.SetText(tt.match)
			v.forDur.SetText(tt.forDur)
			v.save()
			tc.loop.until(t, "the outcome", func() bool { return v.note.Text == tt.note })
		})
	}
	tc.client.mu.Lock()
	saved := tc.client.rules[0]
	tc.client.mu.Unlock()
	if saved.Threshold != 95 || saved.Match["mount"] != "/" || time.Duration(saved.For) != 10*time.Minute ||
		!slices.Equal(saved.Channels, []string{"teams"}) {
		t.Errorf("saved rule = %+v", saved)
	}

	// New rule, then delete it.
	v.list.UnselectAll()
	v.setForm(apiv1.Rule{Kind: apiv1.RuleThreshold, Op: ">", Severity: apiv1.SeverityWarning, Enabled: true})
	v.name.SetText("Swap")
	v.metric.SetText("swap_used_percent")
	v.threshold.SetText("50")
	v.save()
	tc.loop.until(t, "the new rule listed", func() bool { return len(v.rules) == 3 })
	if v.edit.ID != "r3" || v.del.Disabled() {
		t.Errorf("after create: editing %q, delete disabled %v", v.edit.ID, v.del.Disabled())
	}
	v.Delete("r3")
	tc.loop.until(t, "the rule gone", func() bool { return len(v.rules) == 2 && v.note.Text == "Deleted." })
}

func TestChannelsScreen(t *testing.T) {
	tc := startConsole(t)
	tc.client.channels = []apiv1.Channel{
		{Name: "log", Always: true},
		{Name: "desktop", MinSeverity: apiv1.SeverityCritical},
		{Name: "teams", MinSeverity: apiv1.SeverityWarning, Queued: 2},
	}
	v := tc.channels
	v.load()
	tc.loop.until(t, "the channels", func() bool { return len(v.channels) == 3 })
	if got := channelText(v.channels[2]); got != "warning and up · 2 queued" {
		t.Errorf("teams reads %q", got)
	}
	if got := channelText(v.channels[0]); got != "every alert, whatever the rule's routing · 0 queued" {
		t.Errorf("log reads %q", got)
	}
	v.SendTest("desktop")
	v.SendTest("teams")
	tc.loop.until(t, "both outcomes", func() bool {
		return v.results["desktop"] == "Sent." && v.results["teams"] == "Failed: teams: webhook answered 502"
	})
	// The rows show the outcomes and their buttons test their channel.
	tc.selectTab(t, "Channels")
	var rows []*channelRow
	for _, o := range test.LaidOutObjects(tc.win.Content()) {
		if r, ok := o.(*channelRow); ok && tc.onScreen(r) && r.result.Text == "Sent." {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		t.Fatal("no channel row shows the test's outcome")
	}
	test.Tap(rows[0].test)
	tc.loop.until(t, "the tap's test", func() bool {
		_, _, tested := tc.client.recorded()
		return len(tested) == 3 && tested[2] == "desktop"
	})
}

// fakeAutostart is a sign-in switch that records its state.
type fakeAutostart struct {
	on   bool
	fail error
}

func (f *fakeAutostart) Enabled() (bool, error) { return f.on, nil }
func (f *fakeAutostart) SetEnabled(on bool) error {
	if f.fail != nil {
		return f.fail
	}
	f.on = on
	return nil
}

func TestSettingsAndWindowSize(t *testing.T) {
	as := &fakeAutostart{}
	tc := startConsole(t, func(tc *console) {
		tc.SetOptions(Options{Autostart: as, Core: []Setting{{Name: "Data directory", Value: "/var/lib/esmon"}}})
	})
	checks := map[string]*widget.Check{}
	labels := map[string]bool{}
	tc.selectTab(t, "Settings")
	for _, o := range test.LaidOutObjects(tc.win.Content()) {
		switch o := o.(type) {
		case *widget.Check:
			checks[o.Text] = o
		case *widget.Label:
			labels[o.Text] = true
		}
	}
	if !labels["/var/lib/esmon"] {
		t.Error("the core's data directory is not shown")
	}
	test.Tap(checks[CheckStartMinimised])
	if !tc.app.Preferences().Bool(PrefStartMinimised) {
		t.Error("start minimised not remembered")
	}
	test.Tap(checks[CheckAutostart])
	if !as.on {
		t.Error("start at sign-in not switched on")
	}
	as.fail = errors.New("registry: access denied")
	test.Tap(checks[CheckAutostart])
	if !as.on || !checks[CheckAutostart].Checked {
		t.Error("a failed switch-off shows as off")
	}

	// The window's size is remembered for the next start.
	tc.win.Resize(fyne.NewSize(900, 600))
	tc.closeWindow()
	next := NewConsole(tc.app, quietLogger())
	next.win = tc.app.NewWindow("next")
	next.restoreSize()
	if s := next.win.Canvas().Size(); s.Width != 900 || s.Height != 600 {
		t.Errorf("restored size = %v, want 900x600", s)
	}
}

// selectTab opens a tab by its name, as a click would.
func (tc *console) selectTab(t *testing.T, name string) {
	t.Helper()
	for _, it := range tc.tabs.Items {
		if it.Text == name {
			tc.tabs.Select(it)
			return
		}
	}
	t.Fatalf("no tab %q", name)
}

func TestAgentsScreen(t *testing.T) {
	tc := startConsole(t)
	tc.client.agents = []apiv1.Agent{
		{ID: "ag-1", Hostname: "web-01", OS: "linux", Version: "1.2.0", Connected: true, RemoteAddr: "10.0.0.5:51234",
			LastContact: testNow.Add(-time.Minute)},
		{ID: "ag-2", Hostname: "db-01", OS: "windows", Version: "1.2.0", LastContact: testNow.Add(-2 * time.Hour)},
	}
	tc.selectTab(t, "Agents")
	v := tc.agentsV
	tc.loop.until(t, "the agents", func() bool { return len(v.agents) == 2 })
	r := newAgentRow()
	r.set(v.agents[0], testNow, nil)
	if title, sub := twoLinesText(r.title); title != "web-01 (ag-1)" || sub != "linux · agent 1.2.0 · from 10.0.0.5:51234 · last heard 14:09 (1m)" {
		t.Errorf("agent row = %q / %q", title, sub)
	}
	if r.state.text != "CONNECTED" {
		t.Errorf("agent badge = %q", r.state.text)
	}

	// A join code for 5 agents, valid a week: shown once with its install
	// commands, each copied by its button.
	v.uses.SetText("5")
	v.life.SetSelected("7 days")
	v.label.SetText("batch 2")
	v.createCode()
	tc.loop.until(t, "the join code", func() bool { return v.install != nil && strings.Contains(v.codes.Text, "j1") })
	if got := v.install["Linux"]; got != "curl -fsSL https://core:8470/install.sh | sudo sh -s -- esmj_j1_secret" {
		t.Errorf("Linux command = %q", got)
	}
	if !strings.Contains(v.codes.Text, "Join code j1: active, 5 of 5 uses left, expires Mar 9 14:10 (batch 2)") {
		t.Errorf("join codes = %q", v.codes.Text)
	}
	var copies []*widget.Button
	for _, o := range test.LaidOutObjects(v.created) {
		if b, ok := o.(*widget.Button); ok && b.Text == ButtonCopy {
			copies = append(copies, b)
		}
	}
	if len(copies) != 4 {
		t.Fatalf("%d Copy buttons, want 4 (code, Linux, PowerShell, MSI)", len(copies))
	}
	test.Tap(copies[3])
	if got := tc.app.Clipboard().Content(); got != "msiexec /i esmon-agent.msi JOINCODE=esmj_j1_secret" {
		t.Errorf("clipboard = %q", got)
	}
	v.uses.SetText("zero")
	v.createCode()
	if v.note.Text != "Agents it may enrol: a whole number, 1 or more" {
		t.Errorf("bad uses note = %q", v.note.Text)
	}

	v.Revoke("ag-2")
	tc.loop.until(t, "the revoked agent", func() bool { return len(v.agents) == 2 && v.agents[1].Revoked })
	r.set(v.agents[1], testNow, nil)
	if r.state.text != "REVOKED" || !r.revoke.Disabled() {
		t.Errorf("revoked row: %q, button disabled %v", r.state.text, r.revoke.Disabled())
	}
}

func TestUsersScreen(t *testing.T) {
	tc := startConsole(t)
	tc.client.users = []apiv1.User{{Name: "maria", Role: apiv1.RoleAdmin, Created: testNow}}
	tc.selectTab(t, "Users")
	v := tc.usersV
	tc.loop.until(t, "the users", func() bool { return len(v.users) == 1 })

	tests := []struct {
		name, password, role, note string
		users                      int
	}{
		{"jo", "short", apiv1.RoleOperator, "Could not add jo: password: at least 12 characters", 1},
		{"jo", "a long passphrase", apiv1.RoleOperator, "Added jo.", 2},
	}
	for _, tt := range tests {
		v.name.SetText(tt.name)
		v.password.SetText(tt.password)
		v.role.SetSelected(tt.role)
		v.Add()
		tc.loop.until(t, tt.note, func() bool { return v.note.Text == tt.note && len(v.users) == tt.users })
	}

	// A row's role picker and switch change that user.
	row := newUserRow()
	row.set(v, v.users[1])
	if title, sub := twoLinesText(row.title); title != "jo" || sub != "operator · since 2026-03-02" {
		t.Errorf("user row = %q / %q", title, sub)
	}
	row.role.SetSelected(apiv1.RoleViewer)
	tc.loop.until(t, "the role change", func() bool { return v.note.Text == "Changed jo." })
	row.set(v, v.users[1])
	row.enabled.SetChecked(false)
	tc.loop.until(t, "jo disabled", func() bool { return len(v.users) == 2 && v.users[1].Disabled })
	tc.client.mu.Lock()
	patches := slices.Clone(tc.client.patches)
	tc.client.mu.Unlock()
	if want := []string{"jo: role=viewer", "jo: disabled=true"}; !slices.Equal(patches, want) {
		t.Errorf("patches = %q, want %q", patches, want)
	}
	v.Delete("jo")
	tc.loop.until(t, "jo gone", func() bool { return len(v.users) == 1 })
}

// failingNotifier records what it is asked to show and fails when told.
type failingNotifier struct {
	mu   sync.Mutex
	sent []string
	fail error
}

func (f *failingNotifier) Send(t apiv1.Transition) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, t.Alert.ID)
	return f.fail
}

func TestNotifyThroughDesktopNotifier(t *testing.T) {
	tc := startConsole(t)
	n := &failingNotifier{}
	tc.SetDesktopNotifier(n)
	cpu := alert("a1", "High CPU", "h1", apiv1.SeverityCritical, 97)
	firing := apiv1.Transition{Alert: cpu, From: apiv1.StatePending, To: apiv1.StateFiring, Value: 97}
	tc.Notify(firing)
	if len(n.sent) != 1 || len(tc.app.notifications()) != 0 {
		t.Errorf("clickable %q, Fyne %q; want the clickable one only", n.sent, tc.app.notifications())
	}
	n.fail = errors.New("no notification service")
	tc.Notify(firing)
	if got := tc.app.notifications(); !slices.Equal(got, []string{"FIRING critical: High CPU"}) {
		t.Errorf("after the notifier failed, Fyne showed %q", got)
	}
	tc.Snooze(time.Hour)
	tc.Notify(firing)
	if len(n.sent) != 2 || len(tc.app.notifications()) != 1 {
		t.Errorf("a snoozed console notified: %q, %q", n.sent, tc.app.notifications())
	}
}
