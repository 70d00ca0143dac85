package ui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"esmon/core/apiv1"
)

// formatNumber prints a measured value the way an operator reads it: one
// decimal below 100, none above, no trailing ".0".
func formatNumber(v float64) string {
	prec := 1
	if v >= 100 || v <= -100 {
		prec = 0
	}
	s := strconv.FormatFloat(v, 'f', prec, 64)
	s = strings.TrimSuffix(s, ".0")
	if s == "-0" {
		s = "0"
	}
	return s
}

// unitOf returns the suffix a metric's values read with.
func unitOf(metric string) string {
	switch {
	case strings.Contains(metric, "percent"):
		return "%"
	case strings.HasSuffix(metric, "_seconds"):
		return " s"
	case strings.HasSuffix(metric, "_bytes"):
		return " B"
	}
	return ""
}

// alertValueText says where an alert's value stands against its threshold:
// "93.4% > 90%".
func alertValueText(value float64, a apiv1.Alert) string {
	u := unitOf(a.Metric)
	v := formatNumber(value) + u
	th := formatNumber(a.Threshold) + u
	if a.Op == "" {
		return v + " (threshold " + th + ")"
	}
	return v + " " + a.Op + " " + th
}

// ago is a short duration for "since" columns: "42s", "5m", "3h 12m", "2d 4h".
func ago(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
		fallthrough
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	default:
		return fmt.Sprintf("%dd %dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	}
}

// sinceText is "since 14:03 (5m)", with the date when it is not today.
func sinceText(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	lt := t.Local()
	layout := "15:04"
	if y, m, d := lt.Date(); y != now.Local().Year() || m != now.Local().Month() || d != now.Local().Day() {
		layout = "Jan 2 15:04"
	}
	return "since " + lt.Format(layout) + " (" + ago(now.Sub(t)) + ")"
}

// osText describes a host's system in one line: "ubuntu 22.04 · linux/amd64
// · 8 cores".
func osText(f apiv1.HostFacts) string {
	var parts []string
	if f.Platform != "" {
		parts = append(parts, strings.TrimSpace(f.Platform+" "+f.PlatformVersion))
	}
	switch {
	case f.OS != "" && f.Arch != "":
		parts = append(parts, f.OS+"/"+f.Arch)
	case f.OS != "":
		parts = append(parts, f.OS)
	}
	if f.Cores > 0 {
		parts = append(parts, fmt.Sprintf("%d cores", f.Cores))
	}
	if len(parts) == 0 {
		return "waiting for the agent's facts"
	}
	return strings.Join(parts, " · ")
}

// hostStatusText is the word on a host's badge.
func hostStatusText(h apiv1.Host) string {
	switch {
	case !h.Online || h.Status == apiv1.StatusOffline:
		return "offline"
	case h.Status == apiv1.StatusOK || h.Status == "":
		return "online"
	default:
		return severityLabel(h.Status)
	}
}

// hostStatus is the status that colours a host: offline wins over
// everything, an empty status of an online host reads as ok.
func hostStatus(h apiv1.Host) string {
	switch {
	case !h.Online:
		return apiv1.StatusOffline
	case h.Status == "":
		return apiv1.StatusOK
	}
	return h.Status
}

// ackText says who acknowledged an alert, when, and why: "acknowledged by
// maria at 14:05: disk cleanup running".
func ackText(a apiv1.Ack, now time.Time) string {
	s := "acknowledged by " + a.By
	if !a.At.IsZero() {
		lt := a.At.Local()
		if y, m, d := lt.Date(); y == now.Local().Year() && m == now.Local().Month() && d == now.Local().Day() {
			s += " at " + lt.Format("15:04")
		} else {
			s += " on " + lt.Format("Jan 2 15:04")
		}
	}
	if a.Comment != "" {
		s += ": " + a.Comment
	}
	return s
}
