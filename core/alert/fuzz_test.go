package alert

import (
	"errors"
	"testing"
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
