// Package ui is the esmon desktop console: the Fyne window with the host
// overview and the active alerts, the system tray that shows the worst firing
// severity, and desktop notifications.
//
// It talks to the core only through Client, so the same console runs with the
// core embedded in the process or attached to a remote core over REST and
// /ws/live.
package ui

import "esmon/core/apiv1"

// Client is what the console needs from a core. *core.Core satisfies it in
// process; a remote client over REST and /ws/live will too.
type Client interface {
	Hosts() []apiv1.Host
	ActiveAlerts() []apiv1.Alert
	// Subscribe returns live events (first a snapshot event) and a cancel func.
	Subscribe() (<-chan apiv1.Event, func())
	WebURL() string
}
