//go:build !headless

package main

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"esmon/app/toast"
	"esmon/core/apiv1"
)

// TestToastFor words transitions as Windows toasts: the alert's link for a
// click, urgent for critical and worse firing only, the logo in the
// severity's colour (ok once over), and the words of the Linux
// notification.
func TestToastFor(t *testing.T) {
	a := apiv1.Alert{ID: "9f3c01d2e4b5a697", RuleName: "High CPU", Host: "web-01", Metric: "cpu_usage_percent",
		Severity: apiv1.SeverityCritical, State: apiv1.StateFiring, Value: 97, Op: ">", Threshold: 90,
		Summary: "CPU above 90% for 5 minutes"}
	warn := a
	warn.Severity = apiv1.SeverityWarning
	for _, tc := range []struct {
		name   string
		t      apiv1.Transition
		title  string
		urgent bool
		image  string
	}{
		{"critical firing", apiv1.Transition{Alert: a, From: apiv1.StatePending, To: apiv1.StateFiring, Value: 97},
			"FIRING critical: High CPU", true, "toast-critical.png"},
		{"warning firing", apiv1.Transition{Alert: warn, From: apiv1.StatePending, To: apiv1.StateFiring, Value: 97},
			"FIRING warning: High CPU", false, "toast-warning.png"},
		{"critical resolved", apiv1.Transition{Alert: a, From: apiv1.StateFiring, To: apiv1.StateResolved, Value: 40},
			"RESOLVED: High CPU", false, "toast-ok.png"},
	} {
		tt := toastFor(tc.t, `C:\esmon\icons`)
		if tt.Title != tc.title || tt.Urgent != tc.urgent || filepath.Base(tt.Image) != tc.image ||
			tt.Launch != "esmon://alert/9f3c01d2e4b5a697" || len(tt.Lines) != 2 || tt.Lines[1] != a.Summary ||
			!strings.HasPrefix(tt.Lines[0], "web-01: ") {
			t.Errorf("%s: %+v", tc.name, tt)
		}
		doc, err := tt.XML()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var root struct {
			Launch string `xml:"launch,attr"`
			Type   string `xml:"activationType,attr"`
		}
		if err := xml.Unmarshal(doc, &root); err != nil || root.Launch != tt.Launch || root.Type != "protocol" {
			t.Errorf("%s: toast %s (%v)", tc.name, doc, err)
		}
	}
	if _, err := toast.ParseAlertURL(toastFor(apiv1.Transition{Alert: a, To: apiv1.StateFiring}, "").Launch); err != nil {
		t.Error(err)
	}
}

// TestWriteToastIcons writes the logos once and leaves them be after.
func TestWriteToastIcons(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "icons")
	if err := writeToastIcons(dir, []byte("app icon")); err != nil {
		t.Fatal(err)
	}
	for _, s := range toastStatuses {
		b, err := os.ReadFile(filepath.Join(dir, toastIconName(s)))
		if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("%s logo: %v", s, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "icon.png")); err != nil || string(b) != "app icon" {
		t.Errorf("app icon: %q %v", b, err)
	}
	if err := writeToastIcons(dir, []byte("app icon")); err != nil {
		t.Errorf("second write: %v", err)
	}
}
