package alert

import (
	"encoding/json"
	"testing"
	"time"

	"esmon/core/apiv1"
	"esmon/core/store"
)

// The engine's own transitions meet the feed's short form: an alert that
// goes pending and then fires with nothing else changed reaches pages as
// apiv1.AlertBrief's short event, not whole (see core/hub's Live).
func TestFiringGoesShortOnTheFeed(t *testing.T) {
	type sample struct {
		sec int
		v   float64
	}
	for name, tc := range map[string]struct {
		rule    apiv1.Rule
		samples []sample
	}{
		"one level": {apiv1.Rule{Threshold: 90}, []sample{{0, 95}, {5, 96}, {10, 97}}},
		"pending at warning, firing at critical": {apiv1.Rule{Threshold: 95, Warning: new(90.0)},
			[]sample{{0, 92}, {5, 97}, {10, 98}}},
	} {
		t.Run(name, func(t *testing.T) {
			e, _ := openEngine(t)
			r := tc.rule
			r.Name, r.Metric, r.Op, r.For, r.Severity, r.Enabled = "cpu", "cpu_usage_percent", ">", apiv1.Duration(10*time.Second), "critical", true
			if _, _, err := e.PutRule(r, true); err != nil {
				t.Fatal(err)
			}
			var pending *apiv1.Alert
			for _, s := range tc.samples {
				for _, tr := range e.Eval("a", []store.Sample{cpu("a", s.sec, s.v)}) {
					if tr.Alert.RuleName != "cpu" {
						continue // the engine's own rules
					}
					switch tr.To {
					case apiv1.StatePending:
						a := tr.Alert
						pending = &a
					case apiv1.StateFiring:
						if pending == nil {
							t.Fatal("fired without going pending first")
						}
						if _, ok, err := apiv1.AlertBrief(&tr, pending, apiv1.BriefRefs{}); err != nil || !ok {
							p, _ := json.Marshal(pending)
							f, _ := json.Marshal(tr)
							t.Fatalf("the firing went whole (%v)\npending %s\nfiring  %s", err, p, f)
						}
						return
					}
				}
			}
			t.Fatal("the alert never fired")
		})
	}
}
