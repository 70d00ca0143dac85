package ui

import (
	"bufio"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"esmon/core/apiv1"
	"esmon/internal/testenv"
)

// notifyd is a notification service on a test bus: it records what it is
// asked to show.
type notifyd struct {
	mu      sync.Mutex
	shown   []string // "summary | actions"
	urgency []byte
}

func (d *notifyd) Notify(app string, replaces uint32, icon, summary, body string, actions []string,
	hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.shown = append(d.shown, summary+" | "+strings.Join(actions, ","))
	u, _ := hints["urgency"].Value().(byte)
	d.urgency = append(d.urgency, u)
	return uint32(len(d.shown)), nil
}

// privateBus starts a D-Bus daemon of the test's own and returns its
// address.
func privateBus(t *testing.T) string {
	t.Helper()
	bin := testenv.LookPath(t, "dbus-daemon")
	cmd := exec.Command(bin, "--session", "--nofork", "--nopidfile", "--print-address=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon gave no address: %v", err)
	}
	return strings.TrimSpace(addr)
}

func connectBus(t *testing.T, addr string) *dbus.Conn {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatalf("connect to the test bus: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestDBusNotifierClick sends notifications through a real D-Bus daemon to
// a notification service, clicks one (the service's ActionInvoked signal),
// and checks that its alert is opened.
func TestDBusNotifierClick(t *testing.T) {
	addr := privateBus(t)
	server := connectBus(t, addr)
	d := &notifyd{}
	if err := server.Export(d, notifyPath, notifyService); err != nil {
		t.Fatal(err)
	}
	if reply, err := server.RequestName(notifyService, dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own %s: %v %v", notifyService, reply, err)
	}

	opened := make(chan apiv1.Alert, 1)
	n, err := NewDBusNotifier(connectBus(t, addr), func(a apiv1.Alert) { opened <- a })
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()

	cpu := alert("a1", "High CPU", "web-01", apiv1.SeverityCritical, 97)
	disk := alert("a2", "Disk full", "db-01", apiv1.SeverityWarning, 91)
	for _, tr := range []apiv1.Transition{
		{Alert: cpu, From: apiv1.StatePending, To: apiv1.StateFiring, Value: 97},
		{Alert: disk, From: apiv1.StatePending, To: apiv1.StateFiring, Value: 91},
	} {
		if err := n.Send(tr); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	d.mu.Lock()
	shown, urgency := append([]string(nil), d.shown...), append([]byte(nil), d.urgency...)
	d.mu.Unlock()
	want := []string{"FIRING critical: High CPU | default,Open in esmon", "FIRING warning: Disk full | default,Open in esmon"}
	if strings.Join(shown, "\n") != strings.Join(want, "\n") || urgency[0] != 2 || urgency[1] != 1 {
		t.Errorf("shown %q with urgency %v, want %q with 2 (critical) and 1", shown, urgency, want)
	}

	// The operator clicks the first notification.
	if err := server.Emit(notifyPath, notifyService+".ActionInvoked", uint32(1), "default"); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-opened:
		if a.ID != "a1" {
			t.Errorf("clicking the High CPU notification opened alert %q", a.ID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the click opened nothing")
	}
}
