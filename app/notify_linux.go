//go:build !headless

package main

import (
	"fyne.io/fyne/v2"
	"github.com/godbus/dbus/v5"

	"esmon/core/apiv1"
	"esmon/ui"
)

// clickableNotifications makes the console's notifications open their
// alert when clicked, through the session bus's notification service. It
// returns what undoes it; without a session bus Fyne's notifications stay.
func clickableNotifications(con *console) (stop func()) {
	c, log := con.Console, con.log
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		log.Info("no session bus: notifications cannot open their alert", "err", err)
		return func() {}
	}
	n, err := ui.NewDBusNotifier(conn, func(a apiv1.Alert) { fyne.Do(func() { c.OpenAlert(a) }) })
	if err != nil {
		conn.Close()
		log.Info("notifications cannot open their alert", "err", err)
		return func() {}
	}
	c.SetDesktopNotifier(n)
	return func() {
		c.SetDesktopNotifier(nil)
		n.Close()
		conn.Close()
	}
}
