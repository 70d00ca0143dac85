package alert

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"

	"esmon/core/apiv1"
	"esmon/core/store"
)

// refSample is a sample of metric app_latency_ms on host's series with
// labels kv, carrying the series' Ref in db as the hub sends it.
func refSample(t testing.TB, db *store.DB, host string, sec int, v float64, kv ...string) store.Sample {
	t.Helper()
	ls := store.Labels{{Name: "host", Value: host}}
	for i := 0; i < len(kv); i += 2 {
		ls = append(ls, store.Label{Name: kv[i], Value: kv[i+1]})
	}
	ls.Sort()
	ref, err := db.Ref("app_latency_ms", ls)
	if err != nil {
		t.Fatal(err)
	}
	return store.Sample{Metric: "app_latency_ms", Labels: ls, T: int64(sec) * 1000, V: v, Ref: ref}
}

// fired lists, sorted, the rule names of the alerts that ts start firing
// on host.
func fired(ts []apiv1.Transition, host string) []string {
	var out []string
	for _, tr := range ts {
		if tr.To == apiv1.StateFiring && tr.From != apiv1.StateFiring && tr.Alert.Host == host {
			out = append(out, tr.Alert.RuleName)
		}
	}
	slices.Sort(out)
	return out
}

// latencyRule fires over 100 at once, without flap damping: the tests
// fire and resolve its alerts again and again.
func latencyRule(name string, match map[string]string) apiv1.Rule {
	return apiv1.Rule{Name: name, Metric: "app_latency_ms", Op: ">", Threshold: 100, Severity: "critical", Enabled: true, Match: match, FlapCount: -1}
}

// TestMatchCacheFollowsRuleChanges: once a series' samples have been
// evaluated (and its matching rules remembered), creating, editing,
// disabling, enabling, deleting and importing rules changes which alerts
// its next sample fires.
func TestMatchCacheFollowsRuleChanges(t *testing.T) {
	e, db := openEngine(t)
	sec := 0
	// next evaluates one sample of web-1's series (and one of db-1's, so
	// that its match is cached too) at 500 ms, over every threshold, and
	// returns the rules that start firing on web-1. Each alert that fires is then resolved by a sample under the
	// thresholds, so that the next call fires it again if it still
	// matches.
	next := func() []string {
		t.Helper()
		sec += 5
		ts := e.Eval("web-1", []store.Sample{refSample(t, db, "web-1", sec, 500, "path", "/api")})
		e.Eval("db-1", []store.Sample{refSample(t, db, "db-1", sec, 500, "path", "/api")})
		sec += 5
		e.Eval("web-1", []store.Sample{refSample(t, db, "web-1", sec, 1, "path", "/api")})
		e.Eval("db-1", []store.Sample{refSample(t, db, "db-1", sec, 1, "path", "/api")})
		return fired(ts, "web-1")
	}
	want := func(what string, names ...string) {
		t.Helper()
		if got := next(); !slices.Equal(got, names) {
			t.Fatalf("%s: next sample fires %q, want %q", what, got, names)
		}
	}
	glob, _, err := e.PutRule(latencyRule("glob", map[string]string{"host": "web-*"}), true)
	if err != nil {
		t.Fatal(err)
	}
	want("glob rule", "glob")
	want("glob rule again (cached)", "glob")

	exact, _, err := e.PutRule(latencyRule("exact", map[string]string{"host": "web-1", "path": "/api"}), true)
	if err != nil {
		t.Fatal(err)
	}
	want("rule created after the series was cached", "exact", "glob")

	exact.Match = map[string]string{"host": "web-1", "path": "/admin"}
	if _, _, err := e.PutRule(exact, false); err != nil {
		t.Fatal(err)
	}
	want("exact rule edited to another path", "glob")

	exact.Match = map[string]string{"host": "web-?", "path": "/api"}
	if _, _, err := e.PutRule(exact, false); err != nil {
		t.Fatal(err)
	}
	want("exact rule edited to a glob that matches", "exact", "glob")

	exact.Threshold = 1000
	if _, _, err := e.PutRule(exact, false); err != nil {
		t.Fatal(err)
	}
	want("threshold raised over the value", "glob")

	if _, _, err := e.SetEnabled(glob.ID, false, "test"); err != nil {
		t.Fatal(err)
	}
	want("glob rule disabled")
	if _, _, err := e.SetEnabled(glob.ID, true, "test"); err != nil {
		t.Fatal(err)
	}
	want("glob rule enabled again", "glob")

	if _, err := e.DeleteRule(glob.ID, "test"); err != nil {
		t.Fatal(err)
	}
	want("glob rule deleted")

	doc := "rules:\n  - {id: imported, name: imported, metric: app_latency_ms, threshold: 100, severity: warning, flap_count: -1, enabled: true, match: {path: /api}}\n"
	if _, _, _, err := e.Import([]byte(doc), "test"); err != nil {
		t.Fatal(err)
	}
	want("rule imported", "imported")
	doc = "rules:\n  - {id: imported, name: imported, metric: app_latency_ms, threshold: 100, severity: warning, flap_count: -1, enabled: true, match: {path: /admin}}\n"
	if _, _, _, err := e.Import([]byte(doc), "test"); err != nil {
		t.Fatal(err)
	}
	want("rule replaced by an import")

	// The other host's series was cached too; a rule on it now fires
	// there and not on web-1.
	if _, _, err := e.PutRule(latencyRule("other", map[string]string{"host": "db-*"}), true); err != nil {
		t.Fatal(err)
	}
	sec += 5
	if got := fired(e.Eval("db-1", []store.Sample{refSample(t, db, "db-1", sec, 500, "path", "/api")}), "db-1"); !slices.Equal(got, []string{"other"}) {
		t.Fatalf("db-1 after a rule on db-* was created: fires %q", got)
	}
	want("rule on another host's pattern")
}

// TestMatchCacheFollowsTags: a change of a host's tags changes which
// "tag" rules its cached series match.
func TestMatchCacheFollowsTags(t *testing.T) {
	e, db := openEngine(t)
	if _, _, err := e.PutRule(latencyRule("prod", map[string]string{TagMatcher: "prod"}), true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.PutRule(latencyRule("team", map[string]string{TagMatcher: "team-*", "host": "web-*"}), true); err != nil {
		t.Fatal(err)
	}
	sec := 0
	next := func() []string {
		t.Helper()
		sec += 5
		ts := e.Eval("web-1", []store.Sample{refSample(t, db, "web-1", sec, 500)})
		sec += 5
		e.Eval("web-1", []store.Sample{refSample(t, db, "web-1", sec, 1)})
		return fired(ts, "web-1")
	}
	steps := []struct {
		tags []string
		want []string
	}{
		{nil, nil},
		{[]string{"prod"}, []string{"prod"}},
		{[]string{"prod"}, []string{"prod"}}, // the same tags again
		{[]string{"prod", "team-db"}, []string{"prod", "team"}},
		{[]string{"dev", "team-db"}, []string{"team"}},
		{nil, nil},
		{[]string{"prod"}, []string{"prod"}},
	}
	for i, st := range steps {
		e.SetHostTags("web-1", st.tags)
		if got := next(); !slices.Equal(got, st.want) {
			t.Fatalf("step %d, tags %q: next sample fires %q, want %q", i, st.tags, got, st.want)
		}
		if got := next(); !slices.Equal(got, st.want) {
			t.Fatalf("step %d, tags %q, cached: next sample fires %q, want %q", i, st.tags, got, st.want)
		}
	}
	// An alert that fires and stays firing ends when the tag goes.
	sec += 5
	if got := fired(e.Eval("web-1", []store.Sample{refSample(t, db, "web-1", sec, 500)}), "web-1"); !slices.Equal(got, []string{"prod"}) {
		t.Fatalf("fires %q", got)
	}
	if ts := e.SetHostTags("web-1", []string{"dev"}); len(ts) != 1 || ts[0].To != apiv1.StateResolved {
		t.Fatalf("untagging: %+v", ts)
	}
	sec += 5
	if ts := e.Eval("web-1", []store.Sample{refSample(t, db, "web-1", sec, 500)}); len(ts) != 0 {
		t.Fatalf("untagged host's next sample: %+v", ts)
	}
}

// TestMatchCacheSameResults feeds the same samples, with random values,
// through two engines, one with the series' Refs and one without, while
// rules and host tags change, and requires the same transitions from
// both.
func TestMatchCacheSameResults(t *testing.T) {
	withRefs, db := openEngine(t)
	without, _ := openEngine(t)
	rules := `rules:
  - {id: exact-1, name: exact-1, metric: app_latency_ms, threshold: 90, warning: 70, severity: critical, for: 10s, enabled: true, match: {host: web-1}}
  - {id: exact-2, name: exact-2, metric: app_latency_ms, threshold: 80, severity: warning, enabled: true, match: {host: web-2, path: /api}}
  - {id: glob, name: glob, metric: app_latency_ms, threshold: 95, severity: warning, for: 5s, enabled: true, match: {host: "web-*"}}
  - {id: path-glob, name: path-glob, metric: app_latency_ms, op: "<", threshold: 5, severity: info, enabled: true, match: {path: "/a*"}}
  - {id: tagged, name: tagged, metric: app_latency_ms, threshold: 85, severity: warning, enabled: true, match: {tag: prod}}
  - {id: everyone, name: everyone, metric: app_latency_ms, threshold: 97, clear: 50, severity: critical, enabled: true}
  - {id: nodata, name: nodata, metric: app_latency_ms, threshold: 99, severity: warning, no_data: alert, enabled: true, match: {host: db-1}}
`
	for _, e := range []*Engine{withRefs, without} {
		if _, _, _, err := e.Import([]byte(rules), "test"); err != nil {
			t.Fatal(err)
		}
	}
	hosts := []string{"web-1", "web-2", "web-3", "db-1"}
	paths := []string{"/api", "/admin", "/static"}
	rnd := rand.New(rand.NewPCG(1, 2))
	total := 0
	for round := range 300 {
		switch round {
		case 60:
			for _, e := range []*Engine{withRefs, without} {
				e.SetHostTags("web-2", []string{"prod"})
				e.SetHostTags("db-1", []string{"prod"})
			}
		case 120:
			for _, e := range []*Engine{withRefs, without} {
				r, _ := e.Rule("glob")
				r.Match = map[string]string{"host": "*-1"}
				if _, _, err := e.PutRule(r, false); err != nil {
					t.Fatal(err)
				}
				if _, _, err := e.SetEnabled("exact-2", false, "test"); err != nil {
					t.Fatal(err)
				}
			}
		case 180:
			for _, e := range []*Engine{withRefs, without} {
				e.SetHostTags("web-2", nil)
				if _, err := e.DeleteRule("path-glob", "test"); err != nil {
					t.Fatal(err)
				}
				if _, _, err := e.SetEnabled("exact-2", true, "test"); err != nil {
					t.Fatal(err)
				}
			}
		case 240:
			for _, e := range []*Engine{withRefs, without} {
				if _, _, err := e.PutRule(apiv1.Rule{ID: "exact-1", Name: "exact-1", Metric: "app_latency_ms", Threshold: 60, Severity: "warning", Enabled: true, Match: map[string]string{"host": "web-3"}}, false); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, h := range hosts {
			var batch []store.Sample
			for _, p := range paths {
				batch = append(batch, refSample(t, db, h, round*5, float64(rnd.IntN(101)), "path", p))
			}
			if h == "db-1" && round%50 > 40 {
				batch = batch[:0] // silent now and then; the nodata rule does not fire in Eval, but its series are seen
			}
			plain := slices.Clone(batch)
			for i := range plain {
				plain[i].Ref = store.SeriesRef{}
			}
			got, want := withRefs.Eval(h, batch), without.Eval(h, plain)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d host %s: with refs\n%+v\nwithout\n%+v", round, h, got, want)
			}
			total += len(got)
		}
	}
	if total < 100 {
		t.Fatalf("only %d transitions: the comparison proves little", total)
	}
	a, b := withRefs.Active(), without.Active()
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("active alerts differ:\n%+v\n%+v", a, b)
	}
}

// TestMatchCacheConcurrentRuleChanges evaluates a host's series with
// Refs while other goroutines flip a rule on and off and change the
// host's tags; once they stop, the next samples fire exactly the rules
// the final state says.
func TestMatchCacheConcurrentRuleChanges(t *testing.T) {
	e, db := openEngine(t)
	r, _, err := e.PutRule(latencyRule("flipped", map[string]string{"host": "web-*"}), true)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.PutRule(latencyRule("tagged", map[string]string{TagMatcher: "prod"}), true); err != nil {
		t.Fatal(err)
	}
	samples := make([][]store.Sample, 400)
	for i := range samples {
		v := 500.0
		if i%2 == 1 {
			v = 1
		}
		for p := range 5 {
			samples[i] = append(samples[i], refSample(t, db, "web-1", i*5, v, "path", fmt.Sprintf("/p%d", p)))
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, batch := range samples {
			e.Eval("web-1", batch)
		}
	})
	wg.Go(func() {
		for i := range 100 {
			if _, _, err := e.SetEnabled(r.ID, i%2 == 1, "test"); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Go(func() {
		for i := range 100 {
			if i%2 == 0 {
				e.SetHostTags("web-1", []string{"prod"})
			} else {
				e.SetHostTags("web-1", nil)
			}
		}
	})
	wg.Wait()
	// Final state: "flipped" enabled (i = 99), web-1 untagged.
	sec := len(samples) * 5
	var ts []apiv1.Transition
	for p := range 5 {
		ts = append(ts, e.Eval("web-1", []store.Sample{refSample(t, db, "web-1", sec, 1, "path", fmt.Sprintf("/p%d", p))})...)
	}
	ts = nil
	for p := range 5 {
		ts = append(ts, e.Eval("web-1", []store.Sample{refSample(t, db, "web-1", sec+5, 500, "path", fmt.Sprintf("/p%d", p))})...)
	}
	if got := fired(ts, "web-1"); !slices.Equal(got, []string{"flipped", "flipped", "flipped", "flipped", "flipped"}) {
		t.Fatalf("after the changes, the next samples fire %q, want \"flipped\" on each of 5 series", got)
	}
}

// TestHostTagsEndOnlyThatHostsAlerts: a host that loses the tag a rule
// matches ends its own alerts of that rule and no other host's, before
// and after a restart (the alerts by host are rebuilt from the stored
// ones).
func TestHostTagsEndOnlyThatHostsAlerts(t *testing.T) {
	dir := t.TempDir()
	open := func() (*Engine, *store.DB) {
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		db, err := store.Open(store.Options{Dir: dir, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		e, err := Open(db, openHistory(t, dir), quiet)
		if err != nil {
			t.Fatal(err)
		}
		return e, db
	}
	ended := func(ts []apiv1.Transition) []string {
		var out []string
		for _, tr := range ts {
			if tr.To == apiv1.StateResolved {
				out = append(out, tr.Alert.Host)
			}
		}
		slices.Sort(out)
		return out
	}
	e, db := open()
	if _, _, err := e.PutRule(latencyRule("prod latency", map[string]string{"tag": "prod"}), true); err != nil {
		t.Fatal(err)
	}
	hosts := []string{"web-1", "web-2", "web-3"}
	for _, h := range hosts {
		e.SetHostTags(h, []string{"prod"})
		if got := fired(e.Eval(h, []store.Sample{refSample(t, db, h, 10, 500)}), h); len(got) != 1 {
			t.Fatalf("%s: fired %q, want the prod rule", h, got)
		}
	}
	if got := ended(e.SetHostTags("web-1", []string{"prod", "eu"})); len(got) != 0 {
		t.Fatalf("web-1 kept its prod tag, yet alerts ended on %q", got)
	}
	if got := ended(e.SetHostTags("web-1", nil)); !slices.Equal(got, []string{"web-1"}) {
		t.Fatalf("web-1 lost its prod tag: alerts ended on %q, want web-1 only", got)
	}
	e.Close()
	db.Close()

	e, db = open()
	defer db.Close()
	defer e.Close()
	if got := ended(e.SetHostTags("web-2", []string{"prod"})); len(got) != 0 {
		t.Fatalf("after a restart, web-2 kept its tag, yet alerts ended on %q", got)
	}
	if got := ended(e.SetHostTags("web-3", nil)); !slices.Equal(got, []string{"web-3"}) {
		t.Fatalf("after a restart, web-3 lost its prod tag: alerts ended on %q, want web-3 only", got)
	}
	if got := ended(e.SetHostTags("web-1", nil)); len(got) != 0 {
		t.Fatalf("web-1's alert had ended before the restart, yet alerts ended on %q", got)
	}
}
