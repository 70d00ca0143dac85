package ui

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"esmon/core/apiv1"
)

// overview is the console's picture of the estate, built from the live feed:
// the hosts sorted by name and the active alerts, worst first. It has no Fyne
// in it; the console owns one and touches it only on the UI goroutine.
type overview struct {
	connected bool
	hosts     []apiv1.Host   // sorted by hostName
	hostIndex map[string]int // host ID → index in hosts
	alerts    []apiv1.Alert  // sorted by alertLess
}

// change says which parts of the overview an event touched, so the screens
// refresh only those. A host updated in place names its row; any other host
// change redraws the list.
type change struct {
	hosts      bool
	hostRows   []int
	alerts     bool
	connection bool
}

func (c *change) merge(o change) {
	c.hosts = c.hosts || o.hosts
	c.alerts = c.alerts || o.alerts
	c.connection = c.connection || o.connection
	c.hostRows = append(c.hostRows, o.hostRows...)
}

// apply folds one live event into the overview.
func (o *overview) apply(ev apiv1.Event) change {
	switch ev.Type {
	case apiv1.EventSnapshot:
		o.setHosts(ev.Hosts)
		o.alerts = o.alerts[:0]
		for _, a := range ev.Alerts {
			if isActive(a.State) {
				o.alerts = append(o.alerts, a)
			}
		}
		slices.SortStableFunc(o.alerts, alertCompare)
		ch := change{hosts: true, alerts: true, connection: !o.connected}
		o.connected = true
		return ch
	case apiv1.EventHost:
		if ev.Host == nil {
			return change{}
		}
		return o.upsertHost(*ev.Host)
	case apiv1.EventAlert:
		if ev.Transition == nil {
			return change{}
		}
		o.applyTransition(*ev.Transition)
		return change{alerts: true}
	}
	return change{}
}

// setConnected records whether the live feed is up. While it is down the
// overview keeps the last picture, and the console shows it as stale.
func (o *overview) setConnected(up bool) change {
	if o.connected == up {
		return change{}
	}
	o.connected = up
	return change{connection: true}
}

func (o *overview) setHosts(hosts []apiv1.Host) {
	o.hosts = append(o.hosts[:0], hosts...)
	slices.SortStableFunc(o.hosts, hostCompare)
	o.reindex()
}

func (o *overview) reindex() {
	o.hostIndex = make(map[string]int, len(o.hosts))
	for i, h := range o.hosts {
		o.hostIndex[h.ID] = i
	}
}

// upsertHost replaces a known host in place when its name is unchanged, the
// common case of new gauge values, so one event costs one row and no sort.
func (o *overview) upsertHost(h apiv1.Host) change {
	if i, ok := o.hostIndex[h.ID]; ok {
		if hostName(o.hosts[i]) == hostName(h) {
			o.hosts[i] = h
			return change{hostRows: []int{i}}
		}
		o.hosts[i] = h
	} else {
		o.hosts = append(o.hosts, h)
	}
	slices.SortStableFunc(o.hosts, hostCompare)
	o.reindex()
	return change{hosts: true}
}

func (o *overview) applyTransition(t apiv1.Transition) {
	a := t.Alert
	if t.To != "" {
		a.State = t.To
	}
	i := slices.IndexFunc(o.alerts, func(x apiv1.Alert) bool { return x.ID == a.ID })
	if i >= 0 {
		o.alerts = slices.Delete(o.alerts, i, i+1)
	}
	if isActive(a.State) {
		o.alerts = append(o.alerts, a)
		slices.SortStableFunc(o.alerts, alertCompare)
	}
}

// status is what the tray and the header summarise.
func (o *overview) status() TrayStatus {
	s := TrayStatus{Connected: o.connected}
	for _, a := range o.alerts {
		if a.State == apiv1.StateFiring {
			s.add(a.Severity)
		}
	}
	return s
}

func (o *overview) onlineHosts() int {
	n := 0
	for _, h := range o.hosts {
		if h.Online {
			n++
		}
	}
	return n
}

// isActive reports whether an alert in this state belongs on the active
// list: firing, or pending (shown, not counted).
func isActive(state string) bool {
	return state == apiv1.StateFiring || state == apiv1.StatePending
}

// hostName is the name a host is listed under: its hostname, or its ID before
// the agent's hello arrived.
func hostName(h apiv1.Host) string {
	if h.Facts.Hostname != "" {
		return h.Facts.Hostname
	}
	return h.ID
}

func hostCompare(a, b apiv1.Host) int {
	return cmp.Or(
		cmp.Compare(strings.ToLower(hostName(a)), strings.ToLower(hostName(b))),
		cmp.Compare(a.ID, b.ID),
	)
}

// alertSince is when an alert became what it is: fired, or went pending.
func alertSince(a apiv1.Alert) time.Time {
	if !a.FiredAt.IsZero() {
		return a.FiredAt
	}
	return a.ActiveAt
}

// alertCompare puts firing before pending, the worst severity first, then the
// newest, then the ID, so the list does not jump between equal alerts.
func alertCompare(a, b apiv1.Alert) int {
	firing := func(x apiv1.Alert) int {
		if x.State == apiv1.StateFiring {
			return 0
		}
		return 1
	}
	return cmp.Or(
		cmp.Compare(firing(a), firing(b)),
		cmp.Compare(apiv1.SeverityRank(b.Severity), apiv1.SeverityRank(a.Severity)),
		alertSince(b).Compare(alertSince(a)),
		cmp.Compare(a.ID, b.ID),
	)
}

// TrayStatus is the estate in one glance: whether the console hears the core
// and how many alerts fire at each severity. It decides the tray icon, the
// tooltip and the header.
type TrayStatus struct {
	Connected    bool
	Info         int
	Warning      int
	Critical     int
	VeryCritical int
}

func (s *TrayStatus) add(severity string) {
	switch severity {
	case apiv1.SeverityInfo:
		s.Info++
	case apiv1.SeverityWarning:
		s.Warning++
	case apiv1.SeverityCritical:
		s.Critical++
	case apiv1.SeverityVeryCritical:
		s.VeryCritical++
	}
}

// Count returns the number of firing alerts of a severity.
func (s TrayStatus) Count(severity string) int {
	switch severity {
	case apiv1.SeverityInfo:
		return s.Info
	case apiv1.SeverityWarning:
		return s.Warning
	case apiv1.SeverityCritical:
		return s.Critical
	case apiv1.SeverityVeryCritical:
		return s.VeryCritical
	}
	return 0
}

// Worst returns the worst firing severity, "ok" when nothing fires, or
// "offline" when the console lost the core and cannot know.
func (s TrayStatus) Worst() string {
	if !s.Connected {
		return apiv1.StatusOffline
	}
	for _, sev := range slices.Backward(apiv1.Severities) {
		if s.Count(sev) > 0 {
			return sev
		}
	}
	return apiv1.StatusOK
}

// Tooltip is the tray's hover text: "esmon: OK", "esmon: 2 critical, 1
// warning", or "esmon: disconnected".
func (s TrayStatus) Tooltip() string {
	if !s.Connected {
		return "esmon: disconnected"
	}
	var parts []string
	for _, sev := range slices.Backward(apiv1.Severities) {
		if n := s.Count(sev); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, severityLabel(sev)))
		}
	}
	if len(parts) == 0 {
		return "esmon: OK"
	}
	return "esmon: " + strings.Join(parts, ", ")
}

// hostFilter narrows the host list to the hosts whose name, system or
// status contain a text. Rows of the list map to indices of the overview's
// hosts; with no filter they are the same.
type hostFilter struct {
	text  string      // lower case; "" shows every host
	shown []int       // overview indices shown, in order
	rowOf map[int]int // overview index → row
}

func (f *hostFilter) set(text string) { f.text = strings.ToLower(strings.TrimSpace(text)) }

func (f *hostFilter) active() bool { return f.text != "" }

// matches reports whether a host passes the filter.
func (f *hostFilter) matches(h apiv1.Host) bool {
	if !f.active() {
		return true
	}
	hay := strings.ToLower(hostName(h) + " " + h.ID + " " + osText(h.Facts) + " " + hostStatusText(h) + " " + hostStatus(h))
	for _, word := range strings.Fields(f.text) {
		if !strings.Contains(hay, word) {
			return false
		}
	}
	return true
}

// apply recomputes which hosts are shown.
func (f *hostFilter) apply(o *overview) {
	if !f.active() {
		f.shown, f.rowOf = nil, nil
		return
	}
	f.shown = f.shown[:0]
	f.rowOf = make(map[int]int)
	for i, h := range o.hosts {
		if f.matches(h) {
			f.rowOf[i] = len(f.shown)
			f.shown = append(f.shown, i)
		}
	}
}

func (f *hostFilter) count(o *overview) int {
	if !f.active() {
		return len(o.hosts)
	}
	return len(f.shown)
}

// host returns the host on a row.
func (f *hostFilter) host(o *overview, row int) (apiv1.Host, bool) {
	if f.active() {
		if row < 0 || row >= len(f.shown) {
			return apiv1.Host{}, false
		}
		row = f.shown[row]
	}
	if row < 0 || row >= len(o.hosts) {
		return apiv1.Host{}, false
	}
	return o.hosts[row], true
}

// row returns the row of an overview index, if it is shown.
func (f *hostFilter) row(i int) (int, bool) {
	if !f.active() {
		return i, true
	}
	r, ok := f.rowOf[i]
	return r, ok
}

// moved reports whether any of the changed hosts entered or left the
// filter (its status changed), so the list must be rebuilt.
func (f *hostFilter) moved(o *overview, changed []int) bool {
	for _, i := range changed {
		_, shown := f.rowOf[i]
		if i < len(o.hosts) && f.matches(o.hosts[i]) != shown {
			return true
		}
	}
	return false
}
