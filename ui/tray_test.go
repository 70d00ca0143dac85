package ui

import (
	"bytes"
	"image/png"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"

	"esmon/core/apiv1"
)

func TestTrayStatus(t *testing.T) {
	tests := []struct {
		name           string
		s              TrayStatus
		worst, tooltip string
	}{
		{"disconnected", TrayStatus{Critical: 3}, apiv1.StatusOffline, "esmon: disconnected"},
		{"nothing fires", TrayStatus{Connected: true}, apiv1.StatusOK, "esmon: OK"},
		{"info only", TrayStatus{Connected: true, Info: 1}, apiv1.SeverityInfo, "esmon: 1 info"},
		{"critical over warning", TrayStatus{Connected: true, Critical: 2, Warning: 1}, apiv1.SeverityCritical, "esmon: 2 critical, 1 warning"},
		{"everything", TrayStatus{Connected: true, Info: 4, Warning: 3, Critical: 2, VeryCritical: 1},
			apiv1.SeverityVeryCritical, "esmon: 1 very critical, 2 critical, 3 warning, 4 info"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.Worst(); got != tt.worst {
				t.Errorf("Worst() = %q, want %q", got, tt.worst)
			}
			if got := tt.s.Tooltip(); got != tt.tooltip {
				t.Errorf("Tooltip() = %q, want %q", got, tt.tooltip)
			}
		})
	}
}

func TestTrayMenu(t *testing.T) {
	cpu := alert("a1", "High CPU", "web-01", apiv1.SeverityCritical, 97)
	acked := alert("a2", "Disk full", "db-01", apiv1.SeverityWarning, 93)
	acked.Ack = &apiv1.Ack{By: "maria", At: testNow}
	pending := alert("a3", "High memory", "app-01", apiv1.SeverityWarning, 88)
	pending.State = apiv1.StatePending

	var called []string
	actions := TrayActions{
		Open:      func() { called = append(called, "open") },
		OpenAlert: func(a apiv1.Alert) { called = append(called, "alert "+a.ID) },
		Ack:       func(a apiv1.Alert) { called = append(called, "ack "+a.ID) },
		Snooze:    func(d time.Duration) { called = append(called, "snooze "+d.String()) },
		OpenWeb:   func() { called = append(called, "web") },
		Quit:      func() { called = append(called, "quit") },
	}
	tests := []struct {
		name      string
		state     TrayState
		status    string
		items     []string
		alerts    []string // labels of the Active alerts submenu
		ackable   []string // labels of the Acknowledge submenu
		snoozeSub []string
	}{
		{
			name:   "quiet",
			state:  TrayState{Status: TrayStatus{Connected: true}},
			status: "esmon: OK",
			items:  []string{MenuOpen, MenuAlerts + " (0)", MenuAck, MenuSnooze, MenuOpenWeb, MenuQuit},
			alerts: []string{menuNoAlerts}, ackable: []string{menuAllAcked},
			snoozeSub: []string{MenuSnooze15, MenuSnooze60},
		},
		{
			name: "alerts, one acknowledged, snoozed",
			state: TrayState{Status: TrayStatus{Connected: true, Critical: 1, Warning: 1},
				Alerts: []apiv1.Alert{cpu, acked, pending}, SnoozedUntil: testNow.Add(time.Hour)},
			status: "esmon: 1 critical, 1 warning",
			items:  []string{MenuOpen, MenuAlerts + " (3)", MenuAck, MenuSnooze + " (until 15:10)", MenuOpenWeb, MenuQuit},
			alerts: []string{"CRITICAL High CPU — web-01", "WARNING Disk full — db-01 (acknowledged by maria)",
				"PENDING High memory — app-01"},
			ackable:   []string{"CRITICAL High CPU — web-01"},
			snoozeSub: []string{MenuSnooze15, MenuSnooze60, MenuResume},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := TrayMenu(tt.state, actions)
			status, labels := menuLabels(m)
			if status != tt.status {
				t.Errorf("status line = %q, want %q", status, tt.status)
			}
			if m.Items[0].Icon != TrayIcon(tt.state.Status.Worst()) {
				t.Error("status line icon is not the worst status's disc")
			}
			if !slices.Equal(labels, tt.items) {
				t.Fatalf("items = %q, want %q", labels, tt.items)
			}
			sub := func(label string) []string {
				for _, it := range m.Items {
					if strings.HasPrefix(it.Label, label) && it.ChildMenu != nil {
						var out []string
						for _, c := range it.ChildMenu.Items {
							if !c.IsSeparator {
								out = append(out, c.Label)
							}
						}
						return out
					}
				}
				return nil
			}
			if got := sub(MenuAlerts); !slices.Equal(got, tt.alerts) {
				t.Errorf("active alerts = %q, want %q", got, tt.alerts)
			}
			if got := sub(MenuAck); !slices.Equal(got, tt.ackable) {
				t.Errorf("acknowledge = %q, want %q", got, tt.ackable)
			}
			if got := sub(MenuSnooze); !slices.Equal(got, tt.snoozeSub) {
				t.Errorf("snooze = %q, want %q", got, tt.snoozeSub)
			}
			if last := m.Items[len(m.Items)-1]; !last.IsQuit {
				t.Error("Quit is not marked IsQuit, so Fyne would add a second one")
			}
		})
	}

	// Every enabled item does what it says.
	called = nil
	m := TrayMenu(tests[1].state, actions)
	var walk func(items []*fyne.MenuItem)
	walk = func(items []*fyne.MenuItem) {
		for _, it := range items {
			switch {
			case it.ChildMenu != nil:
				walk(it.ChildMenu.Items)
			case !it.IsSeparator && !it.Disabled:
				it.Action()
			}
		}
	}
	walk(m.Items)
	want := []string{"open", "alert a1", "alert a2", "alert a3", "ack a1", "snooze 15m0s", "snooze 1h0m0s", "snooze 0s", "web", "quit"}
	if !slices.Equal(called, want) {
		t.Errorf("actions called = %q, want %q", called, want)
	}
}

func TestTrayIcon(t *testing.T) {
	for _, st := range []string{apiv1.StatusOK, apiv1.StatusOffline, apiv1.SeverityInfo,
		apiv1.SeverityWarning, apiv1.SeverityCritical, apiv1.SeverityVeryCritical} {
		t.Run(st, func(t *testing.T) {
			r := TrayIcon(st)
			if r != TrayIcon(st) {
				t.Error("icon made twice")
			}
			if r.Name() != "esmon-"+st+".png" {
				t.Errorf("name = %q", r.Name())
			}
			img, err := png.Decode(bytes.NewReader(r.Content()))
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != 64 || b.Dy() != 64 {
				t.Fatalf("size = %v, want 64x64", b)
			}
			want := LightStatusColor(st)
			cr, cg, cb, ca := img.At(32, 32).RGBA()
			if uint8(cr>>8) != want.R || uint8(cg>>8) != want.G || uint8(cb>>8) != want.B || ca != 0xffff {
				t.Errorf("centre = %v, want %v", img.At(32, 32), want)
			}
			if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
				t.Errorf("corner alpha = %d, want transparent", a)
			}
		})
	}
}

func TestStatusColor(t *testing.T) {
	// The web page's colours (webui/src), light theme and dark.
	tests := []struct {
		status, light, dark string
	}{
		{apiv1.SeverityInfo, "#1d4ed8", "#60a5fa"},
		{apiv1.SeverityWarning, "#f59e0b", "#f59e0b"},
		{apiv1.SeverityCritical, "#dc2626", "#f87171"},
		{apiv1.SeverityVeryCritical, "#a21caf", "#e879f9"},
		{apiv1.StatusOK, "#15803d", "#22c55e"},
		{apiv1.StatusOffline, "#6b7280", "#8b95a3"},
		{"something new", "#6b7280", "#8b95a3"},
	}
	for _, tt := range tests {
		for variant, want := range map[fyne.ThemeVariant]string{theme.VariantLight: tt.light, theme.VariantDark: tt.dark} {
			if c := StatusColorIn(variant, tt.status); hexColor(c.R, c.G, c.B) != want {
				t.Errorf("variant %d: %q = %s, want %s", variant, tt.status, hexColor(c.R, c.G, c.B), want)
			}
		}
		if c := LightStatusColor(tt.status); hexColor(c.R, c.G, c.B) != tt.light {
			t.Errorf("LightStatusColor(%q) = %s, want %s", tt.status, hexColor(c.R, c.G, c.B), tt.light)
		}
	}
}

func hexColor(r, g, b uint8) string {
	const digits = "0123456789abcdef"
	out := []byte{'#'}
	for _, v := range []uint8{r, g, b} {
		out = append(out, digits[v>>4], digits[v&15])
	}
	return string(out)
}
