//go:build !headless

package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"fyne.io/fyne/v2"

	"esmon/app/toast"
	"esmon/core/apiv1"
	"esmon/ui"
)

// clickableNotifications makes the console's notifications open their
// alert when clicked: it registers the esmon: link scheme and esmon's
// AppUserModelID for this user (HKCU, at every start, pointing at this
// program) and shows toasts that start `esmon --open esmon://alert/ID` on
// a click, which the running console hears on its single-instance socket.
// It returns what undoes it; when registering fails, Fyne's notifications
// (which cannot be clicked) stay.
func clickableNotifications(con *console) (stop func()) {
	exe, err := os.Executable()
	if err != nil {
		con.log.Warn("notifications cannot open their alert: cannot name this program", "err", err)
		return func() {}
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		con.log.Warn("notifications cannot open their alert", "err", err)
		return func() {}
	}
	appIcon := ui.TrayIcon(apiv1.StatusOK).Content()
	if r := fyne.CurrentApp().Icon(); r != nil && len(r.Content()) > 0 {
		appIcon = r.Content()
	}
	reg, icons, changed, err := registerToasts(toast.ClassesKey, filepath.Join(dir, "esmon"), exe, con.args, appIcon, con.log)
	if err != nil {
		con.log.Warn("notifications cannot open their alert", "err", err)
		return func() {}
	}
	if changed {
		con.log.Info("registered esmon: links and notifications for this user", "command", reg.Command())
	}
	n := newToastNotifier(icons, con.log)
	con.SetDesktopNotifier(n)
	return func() {
		con.SetDesktopNotifier(nil)
		n.Close()
	}
}

// registerToasts writes the toast logos into dir's icons (without them a
// toast has none; that is only logged) and registers exe with args under
// classes. It returns the registration, the icons directory ("" without
// logos) and whether the registry changed.
func registerToasts(classes, dir, exe string, args []string, appIcon []byte, log *slog.Logger) (
	reg toast.Registration, icons string, changed bool, err error) {
	icons = filepath.Join(dir, "icons")
	if err := writeToastIcons(icons, appIcon); err != nil {
		log.Warn("toast icons", "err", err)
		icons = ""
	}
	reg = toast.Registration{AppID: appID, Name: "esmon", Exe: exe, Args: args}
	if icons != "" {
		reg.Icon = filepath.Join(icons, "icon.png")
	}
	changed, err = reg.Register(classes)
	return reg, icons, changed, err
}

// toastNotifier shows toasts one at a time on a goroutine of its own, so
// that neither the core's desktop channel nor the live feed waits the
// second PowerShell takes to start; it owns that goroutine until Close.
type toastNotifier struct {
	icons string
	log   *slog.Logger
	queue chan []byte
	wg    sync.WaitGroup

	mu     sync.Mutex // guards closed, and sending on queue against closing it
	closed bool
}

// toastQueue bounds the toasts waiting to be shown; beyond it Send fails
// and the console falls back to Fyne's notification.
const toastQueue = 32

func newToastNotifier(icons string, log *slog.Logger) *toastNotifier {
	n := &toastNotifier{icons: icons, log: log, queue: make(chan []byte, toastQueue)}
	n.wg.Go(func() {
		for doc := range n.queue {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := toast.Show(ctx, appID, doc); err != nil {
				n.log.Warn("desktop notification", "err", err)
			}
			cancel()
		}
	})
	return n
}

// Send queues the toast of a transition.
func (n *toastNotifier) Send(t apiv1.Transition) error {
	doc, err := toastFor(t, n.icons).XML()
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return errors.New("the console is stopping")
	}
	select {
	case n.queue <- doc:
		return nil
	default:
		return errors.New("too many toasts waiting")
	}
}

// Close shows the toasts already queued and stops.
func (n *toastNotifier) Close() {
	n.mu.Lock()
	if !n.closed {
		n.closed = true
		close(n.queue)
	}
	n.mu.Unlock()
	n.wg.Wait()
}
