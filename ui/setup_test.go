package ui

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"esmon/core/apiv1"
	"esmon/core/auth"
	"esmon/ui/remote"
)

// TestMinPasswordMatchesCore keeps the form's rule the core's.
func TestMinPasswordMatchesCore(t *testing.T) {
	if minPassword != auth.MinPassword {
		t.Errorf("minPassword = %d, the core wants %d", minPassword, auth.MinPassword)
	}
}

// TestFirstRunScreen starts a console on a real core that has no user yet,
// through the client the in-process console uses (the admin token) and
// through a bare remote client (`esmon --connect` on the core's machine):
// the first-run screen comes first, refuses what the core would refuse with
// a reason, creates the admin in the core, says where people sign in, and
// gives way to the console; a console started afterwards goes straight to
// the overview.
func TestFirstRunScreen(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a core")
	}
	for _, tc := range []struct {
		name      string
		withToken bool
	}{
		{"admin token, as in process", true},
		{"no token, remote on loopback", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, token := startCore(t)
			if !tc.withToken {
				token = ""
			}
			rc, err := remote.New(remote.Options{URL: c.WebURL(), Token: token, Fingerprint: c.Pin(),
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			con := startSetupConsole(t, rc)
			con.loop.until(t, "the first-run screen", func() bool { return con.setup != nil })
			v := con.setup
			if holds(con.win.Content(), con.tabs) {
				t.Fatalf("the console's tabs show before the first admin exists")
			}

			for _, step := range []struct {
				name, user, pw, again string
				note                  string // what the screen says; "" for none
			}{
				{"empty name", "", "correct horse battery", "correct horse battery", "Give the admin a name."},
				{"short password", "ann", "short", "short", "at least 10 characters"},
				{"passwords differ", "ann", "correct horse battery", "correct horse batterY", "The two passwords differ."},
				{"name the core refuses", "Ann Smith", "correct horse battery", "correct horse battery", "name: must be"},
			} {
				v.name.SetText(step.user)
				v.password.SetText(step.pw)
				v.confirm.SetText(step.again)
				v.note.SetText("")
				test.Tap(v.create)
				con.loop.until(t, step.name+": the note", func() bool { return v.note.Text != "" })
				if !strings.Contains(v.note.Text, step.note) {
					t.Errorf("%s: note = %q, want it to say %q", step.name, v.note.Text, step.note)
				}
				if !c.People().NeedsSetup() {
					t.Fatalf("%s: the core has a user", step.name)
				}
			}

			v.name.SetText("ann")
			v.password.SetText("correct horse battery")
			v.confirm.SetText("correct horse battery")
			v.note.SetText("")
			test.Tap(v.create)
			con.loop.until(t, "the admin created", func() bool { return v.next.Visible() || v.note.Text != "" })
			if v.note.Text != "" {
				t.Fatalf("setup failed: %s", v.note.Text)
			}
			u, ok := c.People().User("ann")
			if !ok || u.Role != apiv1.RoleAdmin {
				t.Fatalf("core user ann = %+v, %v; want an admin", u, ok)
			}
			if want := "People sign in on the web dashboard at " + c.WebURL(); !strings.Contains(v.done.Text, want) {
				t.Errorf("done = %q, want it to say %q", v.done.Text, want)
			}
			if v.form.Visible() || v.password.Text != "" {
				t.Error("the form (or the password) still shows after the admin was created")
			}
			if _, _, err := c.People().SignIn(context.Background(), "ann", "correct horse battery", "127.0.0.1"); err != nil {
				t.Errorf("ann cannot sign in with the password set on the screen: %v", err)
			}

			test.Tap(v.cont)
			if con.setup != nil || !holds(con.win.Content(), con.tabs) {
				t.Error("Continue did not lead to the console's tabs")
			}

			// A console started now has nothing to set up.
			again := startSetupConsole(t, rc)
			again.loop.until(t, "the second console's check", func() bool { return again.setupAsked })
			if again.setup != nil {
				t.Error("a second console shows the first-run screen after the admin exists")
			}
		})
	}
}

// holds reports whether o is laid out inside root.
func holds(root, o fyne.CanvasObject) bool {
	return slices.Contains(test.LaidOutObjects(root), o)
}

// startSetupConsole starts a console on a fake tray app against client,
// until the test ends.
func startSetupConsole(t *testing.T, client Client) *console {
	t.Helper()
	ta := &trayApp{App: test.NewTempApp(t)}
	con := &console{Console: NewConsole(ta, quietLogger()), app: ta, loop: newUILoop()}
	con.onUI = con.loop.do
	con.setTooltip = func(s string) { con.tooltips = append(con.tooltips, s) }
	stop := con.Start(context.Background(), client)
	t.Cleanup(func() {
		close(con.loop.quit)
		stop()
	})
	con.show()
	return con
}
