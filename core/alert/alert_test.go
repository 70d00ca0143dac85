package alert

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"esmon/core/apiv1"
	"esmon/core/journal"
	"esmon/core/store"
)

// openHistory opens the history journal of a test's store in dir (in a
// new temporary directory when dir is ""), closed when the test ends:
// after the engines opened later (cleanups run last first).
func openHistory(t testing.TB, dir string) *journal.Log {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	j, err := journal.Open(filepath.Join(dir, "history"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func openEngine(t testing.TB) (*Engine, *store.DB) {
	t.Helper()
	return openEngineOn(t, store.Options{InMemory: true})
}

// openEngineOn opens an engine on a store opened with opts; both are
// closed when the test ends.
func openEngineOn(t testing.TB, opts store.Options) (*Engine, *store.DB) {
	t.Helper()
	return openEngineLogged(t, opts, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// openEngineLogged is openEngineOn with the engine logging to log.
func openEngineLogged(t testing.TB, opts store.Options, log *slog.Logger) (*Engine, *store.DB) {
	t.Helper()
	db, err := store.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e, err := Open(db, openHistory(t, opts.Dir), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() }) // before the store's: cleanups run last first
	return e, db
}

// TestTransitionLogLevels: an alert going pending and back is logged at
// debug, one firing, resolving or escalating at info; at 10,000 agents the
// pending churn was 204 info lines a second.
func TestTransitionLogLevels(t *testing.T) {
	var buf bytes.Buffer
	e, _ := openEngineLogged(t, store.Options{InMemory: true}, slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if _, _, err := e.PutRule(apiv1.Rule{Name: "cpu", Metric: "cpu_usage_percent", Op: ">", Threshold: 90, For: apiv1.Duration(10 * time.Second), Severity: "critical", Enabled: true}, true); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		sec int
		v   float64
	}{{0, 95}, {5, 20}, {10, 95}, {15, 95}, {20, 95}, {25, 10}} {
		e.Eval("a", []store.Sample{cpu("a", s.sec, s.v)})
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if !strings.Contains(line, "msg=alert ") || field(line, "rule") != "cpu" { // not a default rule's
			continue
		}
		level, from, to := field(line, "level"), field(line, "from"), field(line, "to")
		got = append(got, level+" "+from+">"+to)
	}
	want := []string{"DEBUG inactive>pending", "DEBUG pending>inactive", "DEBUG inactive>pending", "INFO pending>firing", "INFO firing>resolved"}
	if !slices.Equal(got, want) {
		t.Fatalf("logged transitions\n got %q\nwant %q", got, want)
	}
}

// field is the value of key=value in a text log line.
func field(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

func cpu(host string, sec int, v float64) store.Sample {
	return store.Sample{Metric: "cpu_usage_percent", Labels: store.Labels{{Name: "host", Value: host}}, T: int64(sec) * 1000, V: v}
}

func TestLifecycle(t *testing.T) {
	type step struct {
		sec  int
		v    float64
		want string // "" no transition, else "from>to"
	}
	tests := []struct {
		name  string
		for_  time.Duration
		steps []step
	}{
		{"fires at once without for", 0, []step{{0, 50, ""}, {5, 95, "inactive>firing"}, {10, 96, ""}, {15, 10, "firing>resolved"}, {20, 10, ""}}},
		{"pending then firing after for", 10 * time.Second, []step{{0, 95, "inactive>pending"}, {5, 95, ""}, {10, 95, "pending>firing"}, {15, 20, "firing>resolved"}}},
		{"pending cleared before for", 10 * time.Second, []step{{0, 95, "inactive>pending"}, {5, 20, "pending>inactive"}, {10, 95, "inactive>pending"}}},
		{"equal to threshold is not above", 0, []step{{0, 90, ""}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := openEngine(t)
			_, _, err := e.PutRule(apiv1.Rule{Name: "cpu", Metric: "cpu_usage_percent", Op: ">", Threshold: 90, For: apiv1.Duration(tc.for_), Severity: "critical", Enabled: true, Match: map[string]string{"host": "a"}}, true)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.steps {
				ts := e.Eval("a", []store.Sample{cpu("a", s.sec, s.v), cpu("b", s.sec, 99)})
				got := ""
				for _, tr := range ts {
					if tr.Alert.RuleName == "cpu" {
						got = tr.From + ">" + tr.To
						if tr.Alert.Host != "a" || tr.Value != s.v {
							t.Errorf("at %ds: transition %+v", s.sec, tr)
						}
					}
				}
				if got != s.want {
					t.Fatalf("at %ds value %v: got %q want %q", s.sec, s.v, got, s.want)
				}
			}
		})
	}
}

func TestRuleChangeResolvesAndHistoryPersists(t *testing.T) {
	e, db := openEngine(t)
	r, _, err := e.PutRule(apiv1.Rule{Name: "cpu", Metric: "cpu_usage_percent", Threshold: 10, Severity: "very_critical", Enabled: true}, true)
	if err != nil {
		t.Fatal(err)
	}
	if ts := e.Eval("a", []store.Sample{cpu("a", 0, 50)}); len(ts) != 1 || ts[0].To != "firing" {
		t.Fatalf("want firing, got %+v", ts)
	}
	if w := e.WorstOn("a"); w != "very_critical" {
		t.Fatalf("worst = %q", w)
	}
	if n := e.ActiveCount(); n != 1 || n != len(e.Active()) {
		t.Fatalf("ActiveCount %d, Active %d: want 1", n, len(e.Active()))
	}
	r.Threshold = 99
	_, ts, err := e.PutRule(r, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 1 || ts[0].To != "resolved" {
		t.Fatalf("raising the threshold should resolve at once, got %+v", ts)
	}
	if len(e.Active()) != 0 || e.ActiveCount() != 0 {
		t.Fatal("alert still active")
	}
	// A new engine on the same database sees the rule and the history.
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e2, err := Open(db, e.hist, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := e2.Rule(r.ID); !ok || got.Threshold != 99 {
		t.Fatalf("rule after reopen: %+v %v", got, ok)
	}
	h, err := e2.History(0)
	if err != nil || len(h) != 2 || h[0].To != "resolved" || h[1].To != "firing" {
		t.Fatalf("history = %+v, %v", h, err)
	}
	if len(e2.Rules()) != len(DefaultRules())+1 {
		t.Fatalf("reopen must not seed again: %d rules", len(e2.Rules()))
	}
}

func TestAgentOffline(t *testing.T) {
	e, _ := openEngine(t)
	now := time.Unix(1000, 0)
	hosts := []apiv1.Host{{ID: "a", LastSeen: now.Add(-30 * time.Second)}, {ID: "b", LastSeen: now.Add(-2 * time.Minute)}}
	ts := e.EvalOffline(hosts, now)
	if len(ts) != 1 || ts[0].Alert.Host != "b" || ts[0].To != "firing" {
		t.Fatalf("offline: %+v", ts)
	}
	if ts := e.EvalOffline(hosts, now.Add(time.Second)); len(ts) != 0 {
		t.Fatalf("fired twice: %+v", ts)
	}
	ts = e.Eval("b", []store.Sample{cpu("b", 1100, 1)})
	if len(ts) != 1 || ts[0].To != "resolved" || ts[0].Alert.RuleID != "agent-offline" {
		t.Fatalf("back online: %+v", ts)
	}
}

// OfflineAfter is the shortest For of the enabled agent-offline rules:
// the core lists only hosts silent that long for EvalOffline, so a longer
// figure would miss alerts.
func TestOfflineAfter(t *testing.T) {
	e, _ := openEngine(t)
	if d, ok := e.OfflineAfter(); !ok || d != time.Minute { // the default rule
		t.Fatalf("default rules: %v %v, want 1m", d, ok)
	}
	short, _, err := e.PutRule(apiv1.Rule{Name: "short", Kind: apiv1.RuleAgentOffline, For: apiv1.Duration(20 * time.Second), Severity: "warning"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := e.OfflineAfter(); d != time.Minute {
		t.Fatalf("with a shorter rule disabled: %v, want 1m", d)
	}
	short.Enabled = true
	if _, _, err := e.PutRule(short, false); err != nil {
		t.Fatal(err)
	}
	if d, _ := e.OfflineAfter(); d != 20*time.Second {
		t.Fatalf("with a 20 s rule enabled: %v, want 20s", d)
	}
	for _, r := range e.Rules() {
		if r.Kind == apiv1.RuleAgentOffline {
			if _, err := e.DeleteRule(r.ID, "test"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if d, ok := e.OfflineAfter(); ok {
		t.Fatalf("no offline rule: %v %v, want none", d, ok)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		rule  apiv1.Rule
		field string
	}{
		{"ok", apiv1.Rule{Name: "x", Metric: "m", Severity: "info"}, ""},
		{"no name", apiv1.Rule{Metric: "m", Severity: "info"}, "name"},
		{"bad metric", apiv1.Rule{Name: "x", Metric: "9m", Severity: "info"}, "metric"},
		{"bad op", apiv1.Rule{Name: "x", Metric: "m", Op: "=>", Severity: "info"}, "op"},
		{"bad severity", apiv1.Rule{Name: "x", Metric: "m", Severity: "fatal"}, "severity"},
		{"negative for", apiv1.Rule{Name: "x", Metric: "m", Severity: "info", For: -1}, "for"},
		{"offline needs for", apiv1.Rule{Name: "x", Kind: "agent_offline", Severity: "info"}, "for"},
		{"bad kind", apiv1.Rule{Name: "x", Kind: "magic", Severity: "info"}, "kind"},
		{"bad matcher", apiv1.Rule{Name: "x", Metric: "m", Severity: "info", Match: map[string]string{"a-b": "1"}}, "match"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(&tc.rule)
			var fe *FieldError
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
				t.Fatalf("got %v, want error on %s", err, tc.field)
			}
		})
	}
}

// A host's worst severity is the worst among its own firing alerts: a
// pending alert, another host's alerts and a resolved one do not count.
func TestWorstOnIsPerHost(t *testing.T) {
	e, _ := openEngine(t)
	put := func(name string, thr float64, sev string, forSec int) {
		t.Helper()
		r := apiv1.Rule{Name: name, Metric: "cpu_usage_percent", Threshold: thr, Severity: sev, Enabled: true}
		if forSec > 0 {
			r.For = apiv1.Duration(time.Duration(forSec) * time.Second)
		}
		if _, _, err := e.PutRule(r, true); err != nil {
			t.Fatal(err)
		}
	}
	put("warm", 10, "warning", 0)
	put("hot", 50, "critical", 0)
	put("slow", 30, "very_critical", 600) // pending for ten minutes first
	e.Eval("a", []store.Sample{cpu("a", 0, 60)})
	e.Eval("b", []store.Sample{cpu("b", 0, 20)})
	for host, want := range map[string]string{"a": "critical", "b": "warning", "c": ""} {
		if got := e.WorstOn(host); got != want {
			t.Errorf("WorstOn(%s) = %q, want %q", host, got, want)
		}
	}
	e.Eval("a", []store.Sample{cpu("a", 10, 20)}) // hot resolves, warm and slow stay
	if got := e.WorstOn("a"); got != "warning" {
		t.Errorf("after hot resolved: WorstOn(a) = %q, want warning", got)
	}
}
