package alert

import (
	"errors"
	"strings"
	"testing"
	"time"

	"esmon/core/apiv1"
	"esmon/core/store"
)

func f64(v float64) *float64 { return &v }

// tr formats a transition as from>to, with its reason and severity when
// they say more.
func tr(t apiv1.Transition) string {
	s := t.From + ">" + t.To
	if t.Reason != "" {
		s += "(" + t.Reason + ")"
	}
	if t.To == apiv1.StateFiring {
		s += ":" + t.Alert.Severity
	}
	return s
}

// only keeps the transitions of rule.
func only(ts []apiv1.Transition, rule string) []apiv1.Transition {
	var out []apiv1.Transition
	for _, t := range ts {
		if t.Alert.RuleName == rule {
			out = append(out, t)
		}
	}
	return out
}

func ruleTransitions(ts []apiv1.Transition, rule string) string {
	var out []string
	for _, t := range ts {
		if t.Alert.RuleName == rule {
			out = append(out, tr(t))
		}
	}
	return strings.Join(out, " ")
}

// TestThresholdRules runs one rule over a series of samples and checks each
// step's transitions: two levels in one rule, hysteresis, keep_firing_for,
// flap damping.
func TestThresholdRules(t *testing.T) {
	type step struct {
		sec  int
		v    float64
		want string
	}
	tests := []struct {
		name  string
		rule  apiv1.Rule
		flaps int
		steps []step
	}{
		{
			name: "warning then critical then back",
			rule: apiv1.Rule{Threshold: 95, Warning: f64(85), Severity: "critical"},
			steps: []step{{0, 80, ""}, {5, 90, "inactive>firing:warning"}, {10, 96, "firing>firing(severity):critical"},
				{15, 97, ""}, {20, 90, "firing>firing(severity):warning"}, {25, 50, "firing>resolved"}},
		},
		{
			name: "below: warning above critical",
			rule: apiv1.Rule{Op: "<", Threshold: 5, Warning: f64(10), Severity: "very_critical"},
			steps: []step{{0, 50, ""}, {5, 8, "inactive>firing:warning"}, {10, 4, "firing>firing(severity):very_critical"},
				{15, 20, "firing>resolved"}},
		},
		{
			name:  "clear threshold holds the alert until crossed",
			rule:  apiv1.Rule{Threshold: 90, Clear: f64(80), Severity: "critical"},
			steps: []step{{0, 95, "inactive>firing:critical"}, {5, 85, ""}, {10, 81, ""}, {15, 92, ""}, {20, 79, "firing>resolved"}},
		},
		{
			name:  "pending does not use the clear threshold",
			rule:  apiv1.Rule{Threshold: 90, Clear: f64(80), For: apiv1.Duration(10 * time.Second), Severity: "critical"},
			steps: []step{{0, 95, "inactive>pending"}, {5, 85, "pending>inactive"}},
		},
		{
			name:  "keep firing for",
			rule:  apiv1.Rule{Threshold: 90, KeepFiringFor: apiv1.Duration(10 * time.Second), Severity: "critical"},
			steps: []step{{0, 95, "inactive>firing:critical"}, {5, 50, ""}, {10, 95, ""}, {12, 50, ""}, {20, 50, ""}, {22, 50, "firing>resolved"}},
		},
		{
			name:  "flapping is damped",
			rule:  apiv1.Rule{Threshold: 90, Severity: "critical"},
			flaps: 3,
			steps: []step{{0, 95, "inactive>firing:critical"}, {5, 50, "firing>resolved"}, {10, 95, "inactive>firing:critical"},
				{15, 50, "firing>firing(flapping):critical"}, {20, 95, ""}, {25, 50, ""}, {30, 95, ""}, {40, 50, ""},
				{90, 50, ""}, {101, 50, "firing>resolved"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := openEngine(t)
			e.SetFlapDamping(tc.flaps, time.Minute)
			r := tc.rule
			r.Name, r.Metric, r.Enabled = "cpu", "cpu_usage_percent", true
			r.Match = map[string]string{"host": "a"}
			if _, _, err := e.PutRule(r, true); err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.steps {
				ts := e.Eval("a", []store.Sample{cpu("a", s.sec, s.v)})
				if got := ruleTransitions(ts, "cpu"); got != s.want {
					t.Fatalf("at %ds value %v: got %q want %q", s.sec, s.v, got, s.want)
				}
				for _, x := range ts {
					if x.Alert.RuleName == "cpu" && x.To == apiv1.StateFiring && x.Threshold != x.Alert.Threshold {
						t.Errorf("transition threshold %v, alert threshold %v", x.Threshold, x.Alert.Threshold)
					}
				}
			}
		})
	}
}

// TestTickHoldsEnd checks that a hold ends by the clock alone when the
// series goes quiet.
func TestTickHoldsEnd(t *testing.T) {
	e, _ := openEngine(t)
	if _, _, err := e.PutRule(apiv1.Rule{Name: "cpu", Metric: "cpu_usage_percent", Threshold: 90, Severity: "critical",
		KeepFiringFor: apiv1.Duration(10 * time.Second), Enabled: true}, true); err != nil {
		t.Fatal(err)
	}
	e.Eval("a", []store.Sample{cpu("a", 0, 95)})
	e.Eval("a", []store.Sample{cpu("a", 5, 10)})
	if got := ruleTransitions(e.Tick(time.Unix(10, 0)), "cpu"); got != "" {
		t.Fatalf("Tick within the hold: %q", got)
	}
	if got := ruleTransitions(e.Tick(time.Unix(15, 0)), "cpu"); got != "firing>resolved" {
		t.Fatalf("Tick after the hold: %q", got)
	}
}

// TestRepeatEscalateAck walks a critical alert through repeats and an
// escalation, and checks that an acknowledgement stops both.
func TestRepeatEscalateAck(t *testing.T) {
	e, _ := openEngine(t)
	e.SetChannels([]string{"log", "email", "teams"})
	_, _, err := e.PutRule(apiv1.Rule{Name: "cpu", Metric: "cpu_usage_percent", Threshold: 90, Severity: "critical",
		RepeatInterval: apiv1.Duration(time.Minute), EscalateAfter: apiv1.Duration(5 * time.Minute), EscalateTo: "teams", Enabled: true}, true)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	ts := only(e.Eval("a", []store.Sample{cpu("a", 1000, 95), cpu("b", 1000, 95)}), "cpu")
	if len(ts) != 2 {
		t.Fatalf("fired %v", ts)
	}
	steps := []struct {
		at   time.Duration
		want string
	}{
		{30 * time.Second, ""},
		{61 * time.Second, "firing>firing(repeat):critical firing>firing(repeat):critical"},
		{5*time.Minute + time.Second, "firing>firing(escalation):critical firing>firing(escalation):critical"},
		{6*time.Minute + 2*time.Second, "firing>firing(repeat):critical firing>firing(repeat):critical"},
	}
	for _, s := range steps {
		out := e.Tick(t0.Add(s.at))
		if got := ruleTransitions(out, "cpu"); got != s.want {
			t.Fatalf("Tick at +%v: %q, want %q", s.at, got, s.want)
		}
		for _, x := range out {
			if x.Reason == ReasonEscalation && x.Escalated != "teams" {
				t.Errorf("escalation goes to %q", x.Escalated)
			}
		}
	}
	alertA := ts[0].Alert.ID
	ack, err := e.Ack(alertA, "admin", "on it", t0.Add(7*time.Minute))
	if err != nil || ack.Reason != ReasonAcknowledged || ack.Alert.Ack == nil || ack.Alert.Ack.By != "admin" {
		t.Fatalf("Ack = %+v, %v", ack, err)
	}
	if got := ruleTransitions(e.Tick(t0.Add(8*time.Minute)), "cpu"); got != "firing>firing(repeat):critical" {
		t.Fatalf("after ack of one of two: %q", got)
	}
	if a, _ := e.Alert(alertA); a.Ack == nil || a.Ack.Comment != "on it" {
		t.Errorf("acknowledgement not shown: %+v", a.Ack)
	}
	if _, err := e.Unack(alertA, "admin", t0.Add(9*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := ruleTransitions(e.Tick(t0.Add(10*time.Minute+time.Second)), "cpu"); got != "firing>firing(repeat):critical firing>firing(repeat):critical" {
		t.Fatalf("after unack: %q", got)
	}
	if _, err := e.Ack("nope", "admin", "", t0); !errors.Is(err, ErrNoAlert) {
		t.Errorf("Ack of an unknown alert: %v", err)
	}
}

func TestSilenceAndMaintenanceMute(t *testing.T) {
	e, _ := openEngine(t)
	if _, _, err := e.PutRule(apiv1.Rule{Name: "cpu", Metric: "cpu_usage_percent", Threshold: 90, Severity: "critical", Enabled: true}, true); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 28, 1, 0, 0, 0, time.Local)
	if _, err := e.AddSilence(apiv1.Silence{Match: map[string]string{"host": "web-*"}, EndsAt: base.Add(time.Hour)}, "admin", base); err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddMaintenance(apiv1.Maintenance{Name: "nightly", Schedule: "0 2 * * *", Duration: apiv1.Duration(time.Hour),
		Match: map[string]string{"host": "db-1"}}, "admin", base); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		host  string
		at    time.Time
		muted string
	}{
		{"silenced host", "web-1", base.Add(10 * time.Minute), "silence:"},
		{"other host", "app-1", base.Add(10 * time.Minute), ""},
		{"silence over", "web-2", base.Add(2 * time.Hour), ""},
		{"before the window", "db-1", base.Add(30 * time.Minute), ""},
		{"in the window", "db-1", base.Add(90 * time.Minute), "maintenance:nightly"},
		{"after the window", "db-1", base.Add(3*time.Hour + time.Minute), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := only(e.Eval(tc.host, []store.Sample{cpu(tc.host, int(tc.at.Unix()), 95)}), "cpu")
			if len(ts) != 1 {
				t.Fatalf("transitions %v", ts)
			}
			got := ts[0]
			if !strings.HasPrefix(got.Alert.Silenced, tc.muted) || (tc.muted == "") != (got.Alert.Silenced == "") || got.Muted != (tc.muted != "") {
				t.Fatalf("silenced %q muted %v, want %q", got.Alert.Silenced, got.Muted, tc.muted)
			}
			// Resolve again for the next case on the same host.
			e.Eval(tc.host, []store.Sample{cpu(tc.host, int(tc.at.Unix())+1, 1)})
		})
	}
	ms := e.Maintenance(base.Add(90 * time.Minute))
	if len(ms) != 1 || !ms[0].Active || ms[0].CreatedBy != "admin" {
		t.Fatalf("maintenance list %+v", ms)
	}
}

func TestActionValidation(t *testing.T) {
	e, _ := openEngine(t)
	now := time.Now()
	tests := []struct {
		name  string
		do    func() error
		field string
	}{
		{"silence without matchers", func() error {
			_, err := e.AddSilence(apiv1.Silence{EndsAt: now.Add(time.Hour)}, "admin", now)
			return err
		}, "match"},
		{"silence ending in the past", func() error {
			_, err := e.AddSilence(apiv1.Silence{Match: map[string]string{"host": "a"}, StartsAt: now.Add(-2 * time.Hour), EndsAt: now.Add(-time.Hour)}, "admin", now)
			return err
		}, "ends_at"},
		{"bad cron", func() error {
			_, err := e.AddMaintenance(apiv1.Maintenance{Name: "x", Schedule: "every night", Duration: apiv1.Duration(time.Hour), Match: map[string]string{"host": "a"}}, "admin", now)
			return err
		}, "schedule"},
		{"window without duration", func() error {
			_, err := e.AddMaintenance(apiv1.Maintenance{Name: "x", Schedule: "0 2 * * *", Match: map[string]string{"host": "a"}}, "admin", now)
			return err
		}, "duration"},
		{"rule naming an unknown channel", func() error {
			e.SetChannels([]string{"log"})
			_, _, err := e.PutRule(apiv1.Rule{Name: "x", Metric: "m", Severity: "info", Channels: []string{"pager"}}, true)
			return err
		}, "channels"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var fe *FieldError
			if err := tc.do(); !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("got %v, want an error on %s", err, tc.field)
			}
		})
	}
}

func TestImportExportAudit(t *testing.T) {
	e, _ := openEngine(t)
	bad := `rules:
  - name: ok
    metric: cpu_usage_percent
    threshold: 90
    severity: critical
    enabled: true
  - name: broken
    metric: cpu_usage_percent
    threshold: 90
    warning: 95
    severity: critical
`
	var fe *FieldError
	if _, _, _, err := e.Import([]byte(bad), "admin"); !errors.As(err, &fe) || fe.Field != "rules[1].warning" {
		t.Fatalf("import of a bad set: %v", err)
	}
	before := len(e.Rules())
	doc, err := e.Export()
	if err != nil {
		t.Fatal(err)
	}
	good := strings.Replace(bad, "warning: 95", "warning: 80", 1)
	created, updated, _, err := e.Import([]byte(good), "alice")
	if err != nil || created != 2 || updated != 0 {
		t.Fatalf("import = %d, %d, %v", created, updated, err)
	}
	if len(e.Rules()) != before+2 {
		t.Fatalf("%d rules after import, want %d", len(e.Rules()), before+2)
	}
	// Re-importing the export replaces every rule by id: nothing new.
	created, updated, _, err = e.Import(doc, "bob")
	if err != nil || created != 0 || updated != before {
		t.Fatalf("re-import of the export = %d, %d, %v", created, updated, err)
	}
	changes, err := e.RuleChanges(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) == 0 || changes[0].By != "bob" || changes[len(changes)-1].By != "alice" {
		t.Fatalf("audit newest %+v oldest %+v", changes[0], changes[len(changes)-1])
	}
	var r apiv1.Rule
	for _, x := range e.Rules() {
		if x.Name == "broken" {
			r = x
		}
	}
	if r.UpdatedBy != "alice" || r.Warning == nil || *r.Warning != 80 {
		t.Fatalf("imported rule %+v", r)
	}
	if _, _, err := e.SetEnabled(r.ID, false, "carol"); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.Rule(r.ID); got.Enabled || got.UpdatedBy != "carol" {
		t.Fatalf("after disable: %+v", got)
	}
}

func TestSpecialRulesAndNoData(t *testing.T) {
	e, _ := openEngine(t)
	for _, r := range []apiv1.Rule{
		{Name: "check", Kind: apiv1.RuleCheckFailed, Severity: "critical", Enabled: true},
		{Name: "svc", Kind: apiv1.RuleServiceStopped, Match: map[string]string{"service": "MSSQL*"}, Severity: "critical", Enabled: true},
		{Name: "quiet", Metric: "jmx_up", Op: "<", Threshold: 1, NoData: NoDataAlert, NoDataAfter: apiv1.Duration(time.Minute), Severity: "warning", Enabled: true},
	} {
		if _, _, err := e.PutRule(r, true); err != nil {
			t.Fatal(err)
		}
	}
	l := func(k, v string) store.Labels { return store.Labels{{Name: "host", Value: "w1"}, {Name: k, Value: v}} }
	ts := e.Eval("w1", []store.Sample{
		{Metric: CheckUpMetric, Labels: l("check", "http"), T: 1000, V: 0},
		{Metric: ServiceRunningMetric, Labels: l("service", "MSSQLSERVER"), T: 1000, V: 0},
		{Metric: ServiceRunningMetric, Labels: l("service", "Spooler"), T: 1000, V: 0},
		{Metric: "jmx_up", Labels: l("jvm", "maximo"), T: 1000, V: 1},
	})
	if got := ruleTransitions(ts, "check") + "|" + ruleTransitions(ts, "svc"); got != "inactive>firing:critical|inactive>firing:critical" {
		t.Fatalf("special rules: %q", got)
	}
	if got := ruleTransitions(e.Tick(time.Unix(30, 0)), "quiet"); got != "" {
		t.Fatalf("no data too early: %q", got)
	}
	if got := ruleTransitions(e.Tick(time.Unix(62, 0)), "quiet"); got != "inactive>firing(no_data):warning" {
		t.Fatalf("no data: %q", got)
	}
}
