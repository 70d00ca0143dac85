//go:build !headless

package main

import (
	"os"
	"path/filepath"
	"strings"

	"esmon/app/toast"
	"esmon/core/apiv1"
	"esmon/ui"
)

// toastStatuses are the statuses a toast's logo is drawn for: the
// severities firing, and ok for an alert that is over.
var toastStatuses = []string{apiv1.StatusOK, apiv1.SeverityInfo, apiv1.SeverityWarning,
	apiv1.SeverityCritical, apiv1.SeverityVeryCritical}

// toastFor words a transition as a Windows toast, as NotificationFor words
// it for Fyne and D-Bus, with the link that opens its alert. Critical and
// worse, firing, is urgent, as the D-Bus notification is; the logo is the
// tray's disc in the colour of the alert's severity (ok once it is over),
// from icons (writeToastIcons).
func toastFor(t apiv1.Transition, icons string) toast.Toast {
	n := ui.NotificationFor(t)
	firing := t.To == apiv1.StateFiring
	status := apiv1.StatusOK
	if firing {
		status = t.Alert.Severity
	}
	tt := toast.Toast{Title: n.Title, Lines: strings.SplitN(n.Content, "\n", 2), Launch: toast.AlertURL(t.Alert.ID),
		Urgent: firing && apiv1.SeverityRank(t.Alert.Severity) >= apiv1.SeverityRank(apiv1.SeverityCritical)}
	if icons != "" {
		tt.Image = filepath.Join(icons, toastIconName(status))
	}
	return tt
}

func toastIconName(status string) string { return "toast-" + status + ".png" }

// writeToastIcons writes the toast logos into dir, and esmon's icon
// (icon.png, for the app's registration), unless they are there already.
func writeToastIcons(dir string, appIcon []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	files := map[string][]byte{"icon.png": appIcon}
	for _, s := range toastStatuses {
		files[toastIconName(s)] = ui.TrayIcon(s).Content()
	}
	for name, b := range files {
		p := filepath.Join(dir, name)
		if old, err := os.ReadFile(p); err == nil && string(old) == string(b) {
			continue
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
