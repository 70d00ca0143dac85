package ui

import (
	"bytes"
	"image/png"
	"slices"
	"testing"

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
	var called []string
	actions := TrayActions{
		Open:    func() { called = append(called, "open") },
		OpenWeb: func() { called = append(called, "web") },
		Quit:    func() { called = append(called, "quit") },
	}
	s := TrayStatus{Connected: true, Critical: 2, Warning: 1}
	m := TrayMenu(s, actions)

	status, labels := menuLabels(m)
	if status != "esmon: 2 critical, 1 warning" {
		t.Errorf("status line = %q", status)
	}
	if m.Items[0].Icon != TrayIcon(apiv1.SeverityCritical) {
		t.Error("status line icon is not the critical disc")
	}
	if want := []string{MenuOpen, MenuOpenWeb, MenuQuit}; !slices.Equal(labels, want) {
		t.Fatalf("items = %q, want %q", labels, want)
	}
	for _, it := range m.Items {
		if !it.IsSeparator && !it.Disabled {
			it.Action()
		}
	}
	if want := []string{"open", "web", "quit"}; !slices.Equal(called, want) {
		t.Errorf("actions called = %q, want %q", called, want)
	}
	if last := m.Items[len(m.Items)-1]; !last.IsQuit {
		t.Error("Quit is not marked IsQuit, so Fyne would add a second one")
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
			want := StatusColor(st)
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
	tests := map[string]string{
		apiv1.SeverityInfo: "#2f80ed", apiv1.SeverityWarning: "#f2a900", apiv1.SeverityCritical: "#e03e2d",
		apiv1.SeverityVeryCritical: "#a0126b", apiv1.StatusOK: "#27ae60", apiv1.StatusOffline: "#8a8f98",
		"something new": "#8a8f98",
	}
	for status, want := range tests {
		c := StatusColor(status)
		if got := hexColor(c.R, c.G, c.B); got != want {
			t.Errorf("StatusColor(%q) = %s, want %s", status, got, want)
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
