package alert

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"esmon/core/apiv1"
	"esmon/core/store"
)

// escalations formats the escalations among ts as "ch1,ch2" per step.
func escalations(ts []apiv1.Transition) string {
	var out []string
	for _, t := range ts {
		if t.Reason == ReasonEscalation {
			out = append(out, strings.Join(t.EscalateTo, ","))
		}
	}
	return strings.Join(out, " ")
}

// TestEscalationChain walks critical alerts along escalation chains with a
// made-up clock: each step goes to its channels once its time since firing
// has passed, only while nobody acknowledged the alert; an acknowledgement
// stops the chain and taking it back resumes it.
func TestEscalationChain(t *testing.T) {
	m := func(n int) apiv1.Duration { return apiv1.Duration(time.Duration(n) * time.Minute) }
	chain := []apiv1.EscalationStep{{After: m(5), Channels: []string{"email"}}, {After: m(15), Channels: []string{"teams", "webhook"}}}
	type tick struct {
		at   int    // minutes after firing
		ack  string // "ack" or "unack" before the tick
		want string // escalations at this tick
	}
	tests := []struct {
		name     string
		rule     apiv1.Rule
		defaults []apiv1.EscalationStep
		severity string
		ticks    []tick
	}{
		{"rule's chain, step by step", apiv1.Rule{Escalation: chain}, nil, "critical",
			[]tick{{4, "", ""}, {5, "", "email"}, {6, "", ""}, {15, "", "teams,webhook"}, {60, "", ""}}},
		{"two steps due at once go one per tick", apiv1.Rule{Escalation: chain}, nil, "critical",
			[]tick{{20, "", "email"}, {20, "", "teams,webhook"}, {21, "", ""}}},
		{"acknowledgement stops the chain", apiv1.Rule{Escalation: chain}, nil, "critical",
			[]tick{{5, "", "email"}, {10, "ack", ""}, {30, "", ""}, {31, "unack", "teams,webhook"}}},
		{"the core's default chain", apiv1.Rule{}, chain, "very_critical",
			[]tick{{5, "", "email"}, {15, "", "teams,webhook"}}},
		{"the rule's own chain wins over the default", apiv1.Rule{Escalation: chain[1:]}, chain[:1], "critical",
			[]tick{{5, "", ""}, {15, "", "teams,webhook"}}},
		{"escalate_after/escalate_to is a chain of one", apiv1.Rule{EscalateAfter: m(2), EscalateTo: "teams"}, chain, "critical",
			[]tick{{2, "", "teams"}, {15, "", ""}}},
		{"a warning is not escalated", apiv1.Rule{Escalation: chain}, nil, "warning",
			[]tick{{5, "", ""}, {15, "", ""}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := openEngine(t)
			e.SetChannels([]string{"log", "email", "teams", "webhook"})
			if err := e.SetDefaultEscalation(tc.defaults); err != nil {
				t.Fatal(err)
			}
			r := tc.rule
			r.Name, r.Metric, r.Threshold, r.Severity, r.Enabled = "cpu", "cpu_usage_percent", 90, tc.severity, true
			if _, _, err := e.PutRule(r, true); err != nil {
				t.Fatal(err)
			}
			ts := only(e.Eval("a", []store.Sample{cpu("a", 1000, 95)}), "cpu")
			if len(ts) != 1 {
				t.Fatalf("fired %v", ts)
			}
			id, t0 := ts[0].Alert.ID, time.Unix(1000, 0)
			for _, tk := range tc.ticks {
				now := t0.Add(time.Duration(tk.at) * time.Minute)
				switch tk.ack {
				case "ack":
					if _, err := e.Ack(id, "ops", "looking", now); err != nil {
						t.Fatal(err)
					}
				case "unack":
					if _, err := e.Unack(id, "ops", now); err != nil {
						t.Fatal(err)
					}
				}
				out := only(e.Tick(now), "cpu")
				if got := escalations(out); got != tk.want {
					t.Fatalf("tick at +%dm: escalated to %q, want %q (%v)", tk.at, got, tk.want, out)
				}
			}
		})
	}
}

// TestEscalationValidation: a chain's mistakes are refused naming the step.
func TestEscalationValidation(t *testing.T) {
	m := func(n int) apiv1.Duration { return apiv1.Duration(time.Duration(n) * time.Minute) }
	tests := []struct {
		name  string
		steps []apiv1.EscalationStep
		field string
	}{
		{"no channels", []apiv1.EscalationStep{{After: m(1)}}, "escalation[0].channels"},
		{"unknown channel", []apiv1.EscalationStep{{After: m(1), Channels: []string{"pager"}}}, "escalation[0].channels"},
		{"times not rising", []apiv1.EscalationStep{{After: m(5), Channels: []string{"email"}}, {After: m(5), Channels: []string{"teams"}}}, "escalation[1].after"},
		{"negative time", []apiv1.EscalationStep{{After: -1, Channels: []string{"email"}}}, "escalation[0].after"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := openEngine(t)
			e.SetChannels([]string{"log", "email", "teams"})
			_, _, err := e.PutRule(apiv1.Rule{Name: "cpu", Metric: "cpu_usage_percent", Threshold: 90, Severity: "critical", Escalation: tc.steps}, true)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("rule: %v, want a field error on %s", err, tc.field)
			}
			err = e.SetDefaultEscalation(tc.steps)
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("default chain: %v, want a field error on %s", err, tc.field)
			}
		})
	}
}

// TestFlapPerRule: a rule's own flap_count and flap_window win over the
// core's, and flap_count -1 turns damping off for that rule alone.
func TestFlapPerRule(t *testing.T) {
	type step struct {
		sec  int
		v    float64
		want string
	}
	flipping := []step{{0, 95, "inactive>firing:critical"}, {5, 50, "firing>resolved"}, {10, 95, "inactive>firing:critical"},
		{15, 50, "firing>resolved"}, {20, 95, "inactive>firing:critical"}, {25, 50, "firing>resolved"}}
	tests := []struct {
		name  string
		count int
		win   time.Duration
		steps []step
	}{
		{"core default (6 in 10m) lets it flip", 0, 0, flipping},
		{"rule: more than 2 flips damp it", 2, time.Minute, []step{{0, 95, "inactive>firing:critical"}, {5, 50, "firing>resolved"},
			{10, 95, "inactive>firing:critical"}, {15, 50, "firing>firing(flapping):critical"}, {20, 95, ""}, {25, 50, ""}}},
		{"rule: flips spread wider than its window are not flapping", 2, 4 * time.Second, flipping},
		{"rule: -1 turns damping off", -1, 0, flipping},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := openEngine(t)
			if tc.count == -1 {
				e.SetFlapDamping(1, time.Hour) // would damp at once but for the rule
			}
			r := apiv1.Rule{Name: "cpu", Metric: "cpu_usage_percent", Threshold: 90, Severity: "critical", Enabled: true,
				FlapCount: tc.count, FlapWindow: apiv1.Duration(tc.win)}
			if _, _, err := e.PutRule(r, true); err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.steps {
				if got := ruleTransitions(e.Eval("a", []store.Sample{cpu("a", s.sec, s.v)}), "cpu"); got != s.want {
					t.Fatalf("at %ds value %v: got %q want %q", s.sec, s.v, got, s.want)
				}
			}
		})
	}
	e, _ := openEngine(t)
	for _, bad := range []apiv1.Rule{{FlapCount: -2}, {FlapCount: 1001}, {FlapWindow: apiv1.Duration(25 * time.Hour)}} {
		bad.Name, bad.Metric, bad.Severity = "x", "m", "critical"
		var fe *FieldError
		if _, _, err := e.PutRule(bad, true); !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, "flap_") {
			t.Errorf("rule %+v: %v, want a flap_ field error", bad, err)
		}
	}
}

// TestTagMatcher: a rule matching "tag" fires only for hosts with that tag
// as the core last set it, globs included; silences match tags too, and
// agent-offline rules honour them.
func TestTagMatcher(t *testing.T) {
	e, _ := openEngine(t)
	if _, _, err := e.PutRule(apiv1.Rule{Name: "cpu", Metric: "cpu_usage_percent", Threshold: 90, Severity: "critical",
		Enabled: true, Match: map[string]string{"tag": "team-*"}}, true); err != nil {
		t.Fatal(err)
	}
	e.SetHostTags("a", []string{"prod", "team-db"})
	e.SetHostTags("b", []string{"prod"})
	tests := []struct {
		host string
		want string
	}{
		{"a", "inactive>firing:critical"},
		{"b", ""},
		{"c", ""}, // no tags at all
	}
	for i, tc := range tests {
		if got := ruleTransitions(e.Eval(tc.host, []store.Sample{cpu(tc.host, 1000+i, 95)}), "cpu"); got != tc.want {
			t.Errorf("host %s: %q, want %q", tc.host, got, tc.want)
		}
	}
	// A host newly tagged fires with its next sample; a tag taken away
	// ends its alerts at once.
	if got := ruleTransitions(e.SetHostTags("b", []string{"team-web"}), "cpu"); got != "" {
		t.Errorf("tagging host b: %q", got)
	}
	if got := ruleTransitions(e.Eval("b", []store.Sample{cpu("b", 2000, 95)}), "cpu"); got != "inactive>firing:critical" {
		t.Errorf("host b after tagging: %q", got)
	}
	if got := ruleTransitions(e.SetHostTags("b", []string{"prod"}), "cpu"); got != "firing>resolved" {
		t.Errorf("host b untagged: %q", got)
	}
	if got := ruleTransitions(e.Eval("b", []store.Sample{cpu("b", 2001, 95)}), "cpu"); got != "" {
		t.Errorf("host b's next sample after untagging: %q", got)
	}
	e.SetHostTags("b", []string{"team-web"})
	if got := ruleTransitions(e.Eval("b", []store.Sample{cpu("b", 2002, 95)}), "cpu"); got != "inactive>firing:critical" {
		t.Errorf("host b tagged again: %q", got)
	}

	now := time.Now()
	if _, err := e.AddSilence(apiv1.Silence{Match: map[string]string{"tag": "team-db"}, EndsAt: now.Add(time.Hour)}, "ops", now); err != nil {
		t.Fatal(err)
	}
	for _, a := range e.Active() {
		if a.RuleName != "cpu" {
			continue
		}
		want := a.Host == "a"
		if got := a.Silenced != ""; got != want {
			t.Errorf("alert on %s silenced=%v, want %v", a.Host, got, want)
		}
	}

	if _, _, err := e.PutRule(apiv1.Rule{Name: "offline-prod", Kind: apiv1.RuleAgentOffline, For: apiv1.Duration(time.Minute),
		Severity: "critical", Enabled: true, Match: map[string]string{"tag": "prod"}}, true); err != nil {
		t.Fatal(err)
	}
	seen := now.Add(-time.Hour)
	out := only(e.EvalOffline([]apiv1.Host{{ID: "a", Tags: []string{"prod"}, LastSeen: seen}, {ID: "b", Tags: []string{"dev"}, LastSeen: seen}}, now), "offline-prod")
	var hosts []string
	for _, x := range out {
		hosts = append(hosts, x.Alert.Host)
	}
	if !slices.Equal(hosts, []string{"a"}) {
		t.Errorf("offline alerts for %v, want [a]", hosts)
	}
}
