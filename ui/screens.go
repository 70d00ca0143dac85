package ui

import (
	"fmt"
	"image/color"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"esmon/core/apiv1"
)

// hostRow is one line of the host list: status dot, name and system,
// status badge, and the CPU, memory and disk gauges.
type hostRow struct {
	widget.BaseWidget
	dot               *canvas.Circle
	title             *widget.RichText
	status            *badge
	cpu, memory, disk *gauge
}

func newHostRow() *hostRow {
	r := &hostRow{
		dot:    newDot(),
		title:  newTwoLines(),
		status: newBadge(84),
		cpu:    newGauge("CPU"),
		memory: newGauge("Memory"),
		disk:   newGauge("Disk"),
	}
	r.ExtendBaseWidget(r)
	return r
}

func (r *hostRow) CreateRenderer() fyne.WidgetRenderer {
	right := container.NewHBox(r.status, gap(12), r.cpu, gap(16), r.memory, gap(16), r.disk, gap(4))
	return widget.NewSimpleRenderer(container.NewBorder(nil, nil,
		box(12, r.dot), right, r.title))
}

func (r *hostRow) set(h apiv1.Host, now func() time.Time) {
	st := hostStatus(h)
	col := StatusColor(st)
	if r.dot.FillColor != col {
		r.dot.FillColor = col
		r.dot.Refresh()
	}
	sub := osText(h.Facts)
	if !h.Online && !h.LastSeen.IsZero() {
		sub += " · last seen " + strings.TrimPrefix(sinceText(h.LastSeen, now()), "since ")
	}
	setTwoLines(r.title, hostName(h), sub)
	r.status.Set(strings.ToUpper(hostStatusText(h)), col)
	r.cpu.Set(h.Gauges.CPU, h.Online)
	r.memory.Set(h.Gauges.Memory, h.Online)
	r.disk.Set(h.Gauges.Disk, h.Online)
}

// alertRow is one line of the active alerts: severity badge, rule and host,
// value against threshold and since when.
type alertRow struct {
	widget.BaseWidget
	severity *badge
	title    *widget.RichText
	value    *widget.RichText
}

func newAlertRow() *alertRow {
	r := &alertRow{severity: newBadge(112), title: newTwoLines(), value: newTwoLines()}
	for _, s := range r.value.Segments {
		s.(*widget.TextSegment).Style.Alignment = fyne.TextAlignTrailing
	}
	r.ExtendBaseWidget(r)
	return r
}

func (r *alertRow) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(container.NewBorder(nil, nil,
		container.NewCenter(r.severity), withWidth(260, r.value), r.title))
}

func (r *alertRow) set(a apiv1.Alert, host string, now func() time.Time) {
	col := StatusColor(a.Severity)
	text := strings.ToUpper(severityLabel(a.Severity))
	if a.State == apiv1.StatePending {
		text = "PENDING"
		col = StatusColor(apiv1.StatusOffline)
	}
	r.severity.Set(text, col)
	sub := host
	if a.Summary != "" {
		sub += " · " + a.Summary
	}
	if a.Ack != nil {
		sub += " · " + ackText(*a.Ack, now())
	}
	if a.Silenced != "" {
		sub += " · silenced"
	}
	setTwoLines(r.title, a.RuleName, sub)
	setTwoLines(r.value, alertValueText(a.Value, a), sinceText(alertSince(a), now()))
}

// sectionTitle is the heading over a list, bound to a string so it follows
// the counts.
func sectionTitle(text binding.String) fyne.CanvasObject {
	l := widget.NewLabelWithData(text)
	l.TextStyle.Bold = true
	l.SizeName = theme.SizeNameSubHeadingText
	return l
}

// emptyNote is the placeholder over an empty list.
func emptyNote(icon fyne.Resource, text string) fyne.CanvasObject {
	l := widget.NewLabel(text)
	l.Importance = widget.LowImportance
	return container.NewCenter(container.NewHBox(widget.NewIcon(icon), l))
}

// header is the console's top bar: name, connection and host counts on the
// left; firing alerts by severity and the web dashboard button on the right.
func (c *Console) header() fyne.CanvasObject {
	name := canvas.NewText("esmon", theme.Color(theme.ColorNameForeground))
	name.TextStyle.Bold = true
	name.TextSize = theme.Size(theme.SizeNameHeadingText)

	c.connDot = newDot()
	conn := widget.NewLabelWithData(c.connText)
	hosts := widget.NewLabelWithData(c.hostsText)

	chips := container.NewHBox()
	for _, sev := range []string{apiv1.SeverityVeryCritical, apiv1.SeverityCritical,
		apiv1.SeverityWarning, apiv1.SeverityInfo} {
		b := newBadge(0)
		c.chips[sev] = b
		chips.Add(b)
	}
	web := widget.NewButtonWithIcon("Web dashboard", theme.ComputerIcon(), c.openWeb)

	c.brand = canvas.NewImageFromResource(TrayIcon(apiv1.StatusOffline))
	c.brand.FillMode = canvas.ImageFillContain
	left := container.NewHBox(
		box(22, c.brand), name,
		widget.NewSeparator(),
		box(10, c.connDot), conn, hosts)
	right := container.NewHBox(chips, web)
	bar := container.NewBorder(nil, nil, left, right)
	return container.NewVBox(container.NewPadded(bar), widget.NewSeparator())
}

// overviewScreen is the Overview tab: a filter over the hosts, the hosts
// with their gauges and status, and the active alerts below; tapping a host
// opens its detail with charts in place of the overview.
func (c *Console) overviewScreen() fyne.CanvasObject {
	c.filterEntry = widget.NewEntry()
	c.filterEntry.SetPlaceHolder("Filter hosts by name, system or status (e.g. web, windows, critical, offline)")
	c.filterEntry.OnChanged = func(text string) {
		c.filter.set(text)
		c.filter.apply(&c.model)
		c.hostList.Refresh()
		c.refreshHeader()
	}
	c.hostList = widget.NewList(
		func() int { return c.filter.count(&c.model) },
		func() fyne.CanvasObject { return newHostRow() },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if h, ok := c.filter.host(&c.model, id); ok {
				o.(*hostRow).set(h, c.now)
			}
		},
	)
	c.hostList.OnSelected = func(id widget.ListItemID) {
		c.hostList.UnselectAll()
		if h, ok := c.filter.host(&c.model, id); ok {
			c.openHost(h.ID)
		}
	}
	c.noHosts = emptyNote(theme.InfoIcon(), "No hosts yet. Hosts appear here when their esmon-agent connects.")
	hosts := container.NewBorder(
		container.NewVBox(sectionTitle(c.hostsTitle), c.filterEntry), nil, nil, nil,
		container.NewStack(c.hostList, c.noHosts))

	c.alertList = c.newAlertList(func(a apiv1.Alert) {
		c.alertList.UnselectAll()
		c.OpenAlert(a)
	})
	c.noAlerts = emptyNote(theme.ConfirmIcon(), "No active alerts")
	alerts := container.NewBorder(sectionTitle(c.alertsTitle), nil, nil, nil,
		container.NewStack(c.alertList, c.noAlerts))

	split := container.NewVSplit(hosts, alerts)
	split.Offset = 0.62
	c.overviewPane = container.NewPadded(split)
	c.detail = newHostDetail(c)
	return container.NewStack(c.overviewPane, c.detail.root)
}

// newAlertList lists the active alerts, worst first; choosing one calls
// chosen with it.
func (c *Console) newAlertList(chosen func(apiv1.Alert)) *widget.List {
	l := widget.NewList(
		func() int { return len(c.model.alerts) },
		func() fyne.CanvasObject { return newAlertRow() },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id < len(c.model.alerts) {
				a := c.model.alerts[id]
				o.(*alertRow).set(a, c.hostLabel(a.Host), c.now)
			}
		},
	)
	l.OnSelected = func(id widget.ListItemID) {
		if id < len(c.model.alerts) {
			chosen(c.model.alerts[id])
		}
	}
	return l
}

// openHost shows a host's detail in place of the overview.
func (c *Console) openHost(id string) {
	c.tabs.Select(c.overviewTab)
	c.overviewPane.Hide()
	c.detail.open(id)
}

// closeHost goes back from a host's detail to the overview.
func (c *Console) closeHost() {
	c.detail.close()
	c.overviewPane.Show()
}

// hostLabel names an alert's host by its hostname when the host is known.
func (c *Console) hostLabel(host string) string {
	if i, ok := c.model.hostIndex[host]; ok {
		return hostName(c.model.hosts[i])
	}
	return host
}

// refreshHeader brings the header, titles and tray in line with the model.
func (c *Console) refreshHeader() {
	s := c.model.status()
	if s.Connected {
		_ = c.connText.Set("Live")
	} else {
		_ = c.connText.Set("Disconnected, reconnecting…")
	}
	c.connDot.FillColor = StatusColor(apiv1.StatusOffline)
	if s.Connected {
		c.connDot.FillColor = StatusColor(apiv1.StatusOK)
	}
	c.connDot.Refresh()
	_ = c.hostsText.Set(fmt.Sprintf("· %s, %d online", plural(len(c.model.hosts), "host"), c.model.onlineHosts()))
	if r := TrayIcon(s.Worst()); c.brand.Resource != r {
		c.brand.Resource = r
		c.brand.Refresh()
	}
	if c.filter.active() {
		_ = c.hostsTitle.Set(fmt.Sprintf("Hosts (%d of %d)", c.filter.count(&c.model), len(c.model.hosts)))
	} else {
		_ = c.hostsTitle.Set(fmt.Sprintf("Hosts (%d)", len(c.model.hosts)))
	}
	_ = c.alertsTitle.Set(fmt.Sprintf("Active alerts (%d)", len(c.model.alerts)))
	for sev, b := range c.chips {
		n := s.Count(sev)
		if n > 0 {
			b.Set(fmt.Sprintf("%d %s", n, strings.ToUpper(severityLabel(sev))), StatusColor(sev))
		} else {
			b.Set(fmt.Sprintf("0 %s", strings.ToUpper(severityLabel(sev))), nil)
		}
	}
	showIf(c.noHosts, len(c.model.hosts) == 0)
	showIf(c.noAlerts, len(c.model.alerts) == 0)
	c.refreshTray(false)
}

func showIf(o fyne.CanvasObject, show bool) {
	if show && !o.Visible() {
		o.Show()
	} else if !show && o.Visible() {
		o.Hide()
	}
}

// gap is empty space of a width, between the columns of a row.
func gap(w float32) fyne.CanvasObject {
	r := canvas.NewRectangle(color.Transparent)
	r.SetMinSize(fyne.NewSize(w, 0))
	return r
}

// plural is "1 host" or "3 hosts".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
