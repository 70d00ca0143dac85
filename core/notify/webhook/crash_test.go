package webhook

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"esmon/core/apiv1"
	"esmon/core/notify"
	"esmon/core/notify/notifytest"
	"esmon/core/store"
	"esmon/internal/testenv"
)

// crashChildEnv tells the test binary, run again as a child, to be a core
// that sends one notification and waits to be killed: the data directory
// and the webhook's URL, separated by a newline.
const crashChildEnv = "ESMON_NOTIFY_CRASH_CHILD"

// TestCrashChild is the child of TestKilledInSendWindow; run on its own it
// does nothing.
func TestCrashChild(t *testing.T) {
	arg := os.Getenv(crashChildEnv)
	if arg == "" {
		t.Skip("the child of TestKilledInSendWindow")
	}
	dir, url, _ := strings.Cut(arg, "\n")
	db, err := store.Open(store.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	r := crashRouter(t, db, url, false, nil, nil)
	r.Send(crashTransition("crash-1"))
	time.Sleep(time.Minute) // killed long before
	t.Fatal("not killed")
}

func crashTransition(id string) apiv1.Transition {
	at := time.Now()
	return apiv1.Transition{
		Alert: apiv1.Alert{ID: id, RuleID: "r1", RuleName: "Disk full", Host: "db-01", Severity: apiv1.SeverityCritical,
			State: apiv1.StateFiring, FiredAt: at, Summary: "Disk full on db-01"},
		From: apiv1.StatePending, To: apiv1.StateFiring, At: at, Value: 99,
	}
}

func crashRouter(t *testing.T, ob notify.Outbox, url string, redeliver bool, reg prometheus.Registerer, logs io.Writer) *notify.Router {
	t.Helper()
	ch, err := New(Config{Name: "hook", URL: url, Timeout: apiv1.Duration(30 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if logs == nil {
		logs = io.Discard
	}
	r, err := notify.NewRouter([]notify.Route{{Channel: ch}}, reg, notify.Options{
		Outbox: ob, MaxAttempts: -1, RedeliverUnknown: redeliver, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestKilledInSendWindow runs a core (this test binary again) with a real
// Badger outbox that posts a notification to a real HTTP receiver, and
// kills it (SIGKILL) while the receiver holds the post: the receiver has
// the notification, the core never heard so. A core started on the same
// data then, by default, does not post it again and reports its delivery
// as unknown (Unknown, the "unknown" outcome counted, a warning logged);
// with RedeliverUnknown (alerting.redeliver_unknown) it posts it again,
// once, with the same notification id, marked as a redelivery. Either way
// a notification sent after the restart arrives once, after anything the
// restart resent.
func TestKilledInSendWindow(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in the child")
	}
	tests := []struct {
		name      string
		redeliver bool
	}{
		{"at most once (default)", false},
		{"redeliver_unknown", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			type post struct {
				id string
				t  apiv1.Transition
			}
			var (
				mu    sync.Mutex
				posts []post
			)
			held, killed := make(chan struct{}), make(chan struct{})
			recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var p Payload
				if err := json.NewDecoder(r.Body).Decode(&p); err != nil || len(p.Transitions) != 1 {
					t.Errorf("post: %v, %d transitions", err, len(p.Transitions))
					return
				}
				mu.Lock()
				posts = append(posts, post{r.Header.Get(notify.IDHeader), p.Transitions[0]})
				first := len(posts) == 1
				mu.Unlock()
				if first {
					close(held)
					<-killed // taken, never answered
				}
			}))
			defer recv.Close()

			dir := t.TempDir()
			child := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
			child.Env = append(os.Environ(), crashChildEnv+"="+dir+"\n"+recv.URL)
			child.Stderr = os.Stderr
			if err := child.Start(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-held:
			case <-time.After(60 * time.Second):
				child.Process.Kill()
				child.Wait()
				t.Fatal("the receiver never got the notification")
			}
			child.Process.Kill()
			child.Wait()
			close(killed)

			db, err := store.Open(store.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			reg := prometheus.NewRegistry()
			var logs testenv.Buffer
			r := crashRouter(t, db, recv.URL, tc.redeliver, reg, &logs)
			r.Send(crashTransition("after"))
			deadline := time.Now().Add(30 * time.Second)
			for {
				mu.Lock()
				n := len(posts)
				last := posts[n-1].t.Alert.ID
				mu.Unlock()
				if last == "after" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the notification after the restart never arrived; log:\n%s", logs.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := r.Stop(ctx); err != nil {
				t.Fatal(err)
			}

			mu.Lock()
			defer mu.Unlock()
			var ids []string
			for _, p := range posts {
				ids = append(ids, p.t.Alert.ID)
			}
			first := posts[0]
			if first.id == "" || first.id != first.t.NotificationID || first.t.Alert.ID != "crash-1" {
				t.Fatalf("first post: id header %q, %+v", first.id, first.t)
			}
			unknown := r.Unknown("hook")
			if !tc.redeliver {
				if strings.Join(ids, " ") != "crash-1 after" {
					t.Fatalf("posts %v, want crash-1 once, then after: nothing sent twice", ids)
				}
				if len(unknown) != 1 || unknown[0].NotificationID != first.id || unknown[0].Alert.ID != "crash-1" {
					t.Errorf("Unknown lists %+v, want crash-1 with notification id %s", unknown, first.id)
				}
				if got := notifytest.Notifications(t, reg, "hook", notify.OutcomeUnknown); got != 1 {
					t.Errorf("unknown outcome counted %v, want 1", got)
				}
				if !strings.Contains(logs.String(), `level=WARN msg="notify outbox: delivery unknown`) || !strings.Contains(logs.String(), first.id) {
					t.Errorf("no warning naming the notification in the log:\n%s", logs.String())
				}
				return
			}
			if strings.Join(ids, " ") != "crash-1 crash-1 after" {
				t.Fatalf("posts %v, want crash-1, crash-1 again, then after", ids)
			}
			again := posts[1]
			if again.id != first.id || again.t.NotificationID != first.id || !again.t.Redelivery || first.t.Redelivery {
				t.Errorf("first %q %+v\nagain %q %+v\nwant the same notification id, the second marked as a redelivery", first.id, first.t, again.id, again.t)
			}
			if len(unknown) != 0 {
				t.Errorf("Unknown lists %d with redeliver_unknown, want none", len(unknown))
			}
			if got := notifytest.Notifications(t, reg, "hook", notify.OutcomeRedelivered); got != 1 {
				t.Errorf("redelivered outcome counted %v, want 1", got)
			}
		})
	}
}
