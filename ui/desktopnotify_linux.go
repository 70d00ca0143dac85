package ui

import (
	"fmt"
	"sync"

	"github.com/godbus/dbus/v5"

	"esmon/core/apiv1"
)

// The freedesktop notification service, as every Linux desktop runs it.
const (
	notifyService = "org.freedesktop.Notifications"
	notifyPath    = "/org/freedesktop/Notifications"
)

// maxClickable bounds the notifications remembered for a click.
const maxClickable = 256

// DBusNotifier sends desktop notifications through the freedesktop
// notification service with a default action, so that clicking one opens
// its alert in the console: Fyne's notifications have no click. It owns a
// goroutine that hears the clicks until Close.
type DBusNotifier struct {
	conn    *dbus.Conn
	obj     dbus.BusObject
	open    func(apiv1.Alert)
	signals chan *dbus.Signal
	wg      sync.WaitGroup

	mu    sync.Mutex // guards sent and order
	sent  map[uint32]apiv1.Alert
	order []uint32 // oldest first, to forget past maxClickable
}

// NewDBusNotifier uses the notification service on conn (the session
// bus); open is called, from the notifier's goroutine, with the alert of a
// clicked notification.
func NewDBusNotifier(conn *dbus.Conn, open func(apiv1.Alert)) (*DBusNotifier, error) {
	n := &DBusNotifier{conn: conn, obj: conn.Object(notifyService, notifyPath), open: open,
		signals: make(chan *dbus.Signal, 16), sent: map[uint32]apiv1.Alert{}}
	if err := conn.AddMatchSignal(dbus.WithMatchInterface(notifyService), dbus.WithMatchObjectPath(notifyPath)); err != nil {
		return nil, fmt.Errorf("listen for notification clicks: %w", err)
	}
	conn.Signal(n.signals)
	n.wg.Go(n.run)
	return n, nil
}

// Send shows a transition as a notification; critical and worse are
// marked urgent, so they stay until seen.
func (n *DBusNotifier) Send(t apiv1.Transition) error {
	note := NotificationFor(t)
	urgency := byte(1)
	if apiv1.SeverityRank(t.Alert.Severity) >= apiv1.SeverityRank(apiv1.SeverityCritical) && t.To == apiv1.StateFiring {
		urgency = 2
	}
	var id uint32
	err := n.obj.Call(notifyService+".Notify", 0, "esmon", uint32(0), "dialog-warning", note.Title, note.Content,
		[]string{"default", "Open in esmon"}, map[string]dbus.Variant{"urgency": dbus.MakeVariant(urgency)}, int32(-1)).Store(&id)
	if err != nil {
		return fmt.Errorf("send notification: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent[id] = t.Alert
	n.order = append(n.order, id)
	if len(n.order) > maxClickable {
		delete(n.sent, n.order[0])
		n.order = n.order[1:]
	}
	return nil
}

// run hears clicks until the signal channel closes.
func (n *DBusNotifier) run() {
	for sig := range n.signals {
		if sig.Name != notifyService+".ActionInvoked" || len(sig.Body) < 2 {
			continue
		}
		id, _ := sig.Body[0].(uint32)
		n.mu.Lock()
		a, ok := n.sent[id]
		n.mu.Unlock()
		if ok {
			n.open(a)
		}
	}
}

// Close stops hearing clicks.
func (n *DBusNotifier) Close() {
	n.conn.RemoveSignal(n.signals)
	close(n.signals)
	n.wg.Wait()
}
