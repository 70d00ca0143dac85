package alert

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"esmon/core/apiv1"
	"esmon/core/store"
)

// FuzzImport feeds arbitrary documents to the rule import: it must answer
// with the rules stored or a field error, never panic, and never store a
// rule that Validate refuses.
func FuzzImport(f *testing.F) {
	f.Add([]byte("rules:\n  - {name: a, metric: cpu_usage_percent, threshold: 90, severity: critical, enabled: true}\n"))
	f.Add([]byte("rules:\n  - {name: b, metric: m, op: '<', threshold: 5, warning: 10, clear: 12, severity: very_critical, for: 30s}\n"))
	f.Add([]byte("rules:\n  - {name: c, kind: agent_offline, for: 1m, severity: critical, match: {host: 'web-*'}}\n"))
	f.Add([]byte("rules: [{name: d, kind: check_failed, severity: warning, no_data: alert, no_data_after: 2m}]"))
	f.Add([]byte("{"))
	e, _ := openEngine(f)
	f.Fuzz(func(t *testing.T, doc []byte) {
		_, _, _, err := e.Import(doc, "fuzz")
		var fe *FieldError
		if err != nil && !errors.As(err, &fe) {
			t.Fatalf("import error is not a field error: %v", err)
		}
		for _, r := range e.Rules() {
			if verr := Validate(&r); verr != nil {
				t.Fatalf("stored rule %+v is invalid: %v", r, verr)
			}
		}
	})
}

// FuzzRuleJSON feeds arbitrary rule bodies, decoded as the API decodes
// them, to PutRule: it must store the rule or answer a field error, never
// panic; a stored rule passes Validate and evaluating and ticking it does
// not panic either.
func FuzzRuleJSON(f *testing.F) {
	f.Add([]byte(`{"name":"cpu","metric":"cpu_usage_percent","threshold":90,"severity":"critical","enabled":true}`))
	f.Add([]byte(`{"name":"w","metric":"m","op":"<","threshold":5,"warning":10,"clear":12,"severity":"very_critical","for":"30s","keep_firing_for":"1m"}`))
	f.Add([]byte(`{"name":"e","metric":"m","threshold":1,"severity":"critical","enabled":true,"escalation":[{"after":"5m","channels":["email"]},{"after":"15m","channels":["teams"]}]}`))
	f.Add([]byte(`{"name":"t","metric":"m","threshold":1,"severity":"warning","enabled":true,"match":{"tag":"prod","host":"web-*"},"flap_count":3,"flap_window":"2m"}`))
	f.Add([]byte(`{"name":"o","kind":"agent_offline","for":"1m","severity":"critical","match":{"tag":"team-?"}}`))
	f.Add([]byte(`{"name":"n","kind":"check_failed","severity":"warning","no_data":"alert","no_data_after":"2m","repeat_interval":"1h"}`))
	f.Add([]byte(`{"name":1}`))
	e, _ := openEngine(f)
	e.SetChannels([]string{"log", "email", "teams"})
	e.SetHostTags("web-1", []string{"prod", "team-a"})
	t0 := time.Unix(1_000_000, 0)
	f.Fuzz(func(t *testing.T, body []byte) {
		var r apiv1.Rule
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if dec.Decode(&r) != nil {
			return
		}
		saved, _, err := e.PutRule(r, true)
		var fe *FieldError
		if err != nil {
			if !errors.As(err, &fe) {
				t.Fatalf("PutRule error is not a field error: %v", err)
			}
			return
		}
		if verr := Validate(&saved); verr != nil {
			t.Fatalf("stored rule %+v is invalid: %v", saved, verr)
		}
		ls := store.Labels{{Name: "host", Value: "web-1"}, {Name: "mount", Value: "/"}}
		for i, v := range []float64{saved.Threshold + 1, saved.Threshold - 1, saved.Threshold, 0} {
			e.Eval("web-1", []store.Sample{{Metric: saved.Metric, Labels: ls, T: t0.Add(time.Duration(i) * time.Second).UnixMilli(), V: v}})
		}
		e.Tick(t0.Add(time.Hour))
		e.EvalOffline([]apiv1.Host{{ID: "web-1", Tags: []string{"prod"}, LastSeen: t0}}, t0.Add(time.Hour))
		if _, err := e.DeleteRule(saved.ID, "fuzz"); err != nil {
			t.Fatalf("delete: %v", err)
		}
	})
}
