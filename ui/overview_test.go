package ui

import (
	"slices"
	"testing"
	"time"

	"esmon/core/apiv1"
)

func TestOverviewApply(t *testing.T) {
	var o overview
	o.apply(apiv1.Event{Type: apiv1.EventSnapshot,
		Hosts: []apiv1.Host{host("3", "Zeta", 1), host("1", "alpha", 2), {ID: "2"}},
		Alerts: []apiv1.Alert{
			alert("w", "Warn", "1", apiv1.SeverityWarning, 91),
			alert("r", "Resolved", "1", apiv1.SeverityCritical, 91),
			alert("c", "Crit", "3", apiv1.SeverityCritical, 95),
		}})
	// A resolved alert in a snapshot is not active.
	o.alerts[slices.IndexFunc(o.alerts, func(a apiv1.Alert) bool { return a.ID == "r" })].State = apiv1.StateResolved
	o.apply(apiv1.Event{Type: apiv1.EventSnapshot, Hosts: slices.Clone(o.hosts), Alerts: slices.Clone(o.alerts)})

	names := func() []string {
		var n []string
		for _, h := range o.hosts {
			n = append(n, hostName(h))
		}
		return n
	}
	if want := []string{"2", "alpha", "Zeta"}; !slices.Equal(names(), want) {
		t.Errorf("hosts = %q, want %q (case-insensitive, ID before facts)", names(), want)
	}
	rules := func() []string {
		var r []string
		for _, a := range o.alerts {
			r = append(r, a.RuleName)
		}
		return r
	}
	if want := []string{"Crit", "Warn"}; !slices.Equal(rules(), want) {
		t.Errorf("alerts = %q, want %q", rules(), want)
	}

	// Gauges change in place; a rename re-sorts.
	h := host("1", "alpha", 80)
	if ch := o.apply(apiv1.Event{Type: apiv1.EventHost, Host: &h}); ch.hosts || !slices.Equal(ch.hostRows, []int{1}) {
		t.Errorf("gauge update change = %+v, want row 1 only", ch)
	}
	h.Facts.Hostname = "omega"
	if ch := o.apply(apiv1.Event{Type: apiv1.EventHost, Host: &h}); !ch.hosts {
		t.Errorf("rename change = %+v, want the whole list", ch)
	}
	if want := []string{"2", "omega", "Zeta"}; !slices.Equal(names(), want) {
		t.Errorf("hosts after rename = %q, want %q", names(), want)
	}
	newHost := host("4", "beta", 0)
	o.apply(apiv1.Event{Type: apiv1.EventHost, Host: &newHost})
	if want := []string{"2", "beta", "omega", "Zeta"}; !slices.Equal(names(), want) {
		t.Errorf("hosts after a new one = %q, want %q", names(), want)
	}

	// Pending shows below firing and does not count; very critical tops the list.
	p := alert("p", "Pending", "1", apiv1.SeverityVeryCritical, 99)
	o.apply(transition(p, apiv1.StatePending))
	v := alert("v", "Very", "1", apiv1.SeverityVeryCritical, 99)
	o.apply(transition(v, apiv1.StateFiring))
	if want := []string{"Very", "Crit", "Warn", "Pending"}; !slices.Equal(rules(), want) {
		t.Errorf("alerts = %q, want %q", rules(), want)
	}
	if s := o.status(); s != (TrayStatus{Connected: true, Warning: 1, Critical: 1, VeryCritical: 1}) {
		t.Errorf("status = %+v", s)
	}
	// Pending to firing replaces the entry rather than adding one.
	o.apply(transition(p, apiv1.StateFiring))
	// Equal severity and firing time: by ID.
	if want := []string{"Pending", "Very", "Crit", "Warn"}; !slices.Equal(rules(), want) {
		t.Errorf("alerts = %q, want %q", rules(), want)
	}
	o.apply(transition(p, apiv1.StateInactive))
	o.apply(transition(v, apiv1.StateResolved))
	if want := []string{"Crit", "Warn"}; !slices.Equal(rules(), want) {
		t.Errorf("alerts after resolve = %q, want %q", rules(), want)
	}
	if ch := o.apply(apiv1.Event{Type: apiv1.EventHost}); ch.hosts || ch.alerts || len(ch.hostRows) > 0 {
		t.Errorf("an empty host event changed %+v", ch)
	}
}

func TestFormat(t *testing.T) {
	numbers := map[float64]string{0: "0", 12.34: "12.3", 90: "90", 99.96: "100", 100.4: "100", 1234.6: "1235", -0.01: "0"}
	for v, want := range numbers {
		if got := formatNumber(v); got != want {
			t.Errorf("formatNumber(%v) = %q, want %q", v, got, want)
		}
	}
	durations := map[time.Duration]string{
		-time.Second: "0s", 42 * time.Second: "42s", 5*time.Minute + 9*time.Second: "5m",
		3*time.Hour + 12*time.Minute: "3h 12m", 52 * time.Hour: "2d 4h",
	}
	for d, want := range durations {
		if got := ago(d); got != want {
			t.Errorf("ago(%v) = %q, want %q", d, got, want)
		}
	}
	now := time.Date(2026, 3, 2, 14, 10, 0, 0, time.Local)
	if got := sinceText(now.Add(-5*time.Minute), now); got != "since 14:05 (5m)" {
		t.Errorf("sinceText today = %q", got)
	}
	if got := sinceText(now.Add(-26*time.Hour), now); got != "since Mar 1 12:10 (1d 2h)" {
		t.Errorf("sinceText yesterday = %q", got)
	}
	if got := osText(apiv1.HostFacts{}); got != "waiting for the agent's facts" {
		t.Errorf("osText of nothing = %q", got)
	}
	if got := osText(apiv1.HostFacts{OS: "windows", Platform: "Microsoft Windows Server 2019", Cores: 8}); got != "Microsoft Windows Server 2019 · windows · 8 cores" {
		t.Errorf("osText windows = %q", got)
	}
}
