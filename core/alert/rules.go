package alert

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"path"
	"slices"
	"strings"
	"time"

	"esmon/core/apiv1"
	"esmon/core/wire"
)

// FieldError says which field of a rule is wrong and why.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

var ops = []string{">", ">=", "<", "<=", "==", "!="}

// Metrics that the special rule kinds watch, as the agent sends them: a
// synthetic check's check_success (1 up, 0 failed; label check) and a
// Windows service's service_running (1 running, 0 stopped; label service).
const (
	CheckUpMetric        = wire.CheckSuccess
	ServiceRunningMetric = wire.ServiceRunning
)

// No-data handling of a threshold rule: what happens to a series that
// matched the rule and stops reporting for NoDataAfter.
const (
	NoDataKeep    = "keep"    // its alert stays as it is (the default)
	NoDataResolve = "resolve" // its alert resolves
	NoDataAlert   = "alert"   // its alert fires, with reason "no_data"
)

// DefaultNoDataAfter is how long a series may be silent before a rule's
// no-data handling applies, unless the rule says otherwise.
const DefaultNoDataAfter = 5 * time.Minute

// maxFor bounds a rule's hold times; longer holds are almost always a typo.
const maxFor = 7 * 24 * time.Hour

// Validate checks a rule and fills defaults (kind threshold, op >). The error
// is a *FieldError naming the first wrong field. The channels a rule names
// are checked by the Engine, which knows them.
func Validate(r *apiv1.Rule) error {
	if r.Kind == "" {
		r.Kind = apiv1.RuleThreshold
	}
	dur := func(name string, d apiv1.Duration) error {
		if d < 0 || time.Duration(d) > maxFor {
			return &FieldError{name, "must be between 0s and 168h"}
		}
		return nil
	}
	switch {
	case r.Name == "" || len(r.Name) > 200:
		return &FieldError{"name", "must be 1 to 200 characters"}
	case !slices.Contains([]string{apiv1.RuleThreshold, apiv1.RuleAgentOffline, apiv1.RuleCheckFailed, apiv1.RuleServiceStopped}, r.Kind):
		return &FieldError{"kind", fmt.Sprintf("must be one of %q, %q, %q, %q", apiv1.RuleThreshold, apiv1.RuleAgentOffline, apiv1.RuleCheckFailed, apiv1.RuleServiceStopped)}
	case apiv1.SeverityRank(r.Severity) == 0:
		return &FieldError{"severity", fmt.Sprintf("must be one of %v", apiv1.Severities)}
	case len(r.Summary) > 1000:
		return &FieldError{"summary", "must be at most 1000 characters"}
	case len(r.Match) > wire.MaxLabels:
		return &FieldError{"match", fmt.Sprintf("at most %d matchers", wire.MaxLabels)}
	case len(r.Channels) > 20:
		return &FieldError{"channels", "at most 20 channels"}
	case (r.EscalateAfter > 0) != (r.EscalateTo != ""):
		return &FieldError{"escalate_to", "escalate_after and escalate_to go together"}
	case r.EscalateTo != "" && len(r.Escalation) > 0:
		return &FieldError{"escalation", "give either escalation steps or escalate_after/escalate_to, not both"}
	case r.FlapCount < -1 || r.FlapCount > 1000:
		return &FieldError{"flap_count", "must be between -1 (no damping) and 1000"}
	case r.FlapWindow < 0 || time.Duration(r.FlapWindow) > 24*time.Hour:
		return &FieldError{"flap_window", "must be between 0s and 24h"}
	}
	if err := ValidateEscalation("escalation", r.Escalation); err != nil {
		return err
	}
	for name, d := range map[string]apiv1.Duration{"for": r.For, "keep_firing_for": r.KeepFiringFor, "repeat_interval": r.RepeatInterval, "escalate_after": r.EscalateAfter, "no_data_after": r.NoDataAfter} {
		if err := dur(name, d); err != nil {
			return err
		}
	}
	if r.RepeatInterval > 0 && time.Duration(r.RepeatInterval) < time.Minute {
		return &FieldError{"repeat_interval", "must be at least 1m"}
	}
	if err := validMatch("match", r.Match); err != nil {
		return err
	}
	switch r.Kind {
	case apiv1.RuleAgentOffline:
		if r.For <= 0 {
			return &FieldError{"for", "an agent_offline rule needs how long a host may be silent, e.g. \"60s\""}
		}
		r.Metric, r.Op, r.Threshold, r.Warning, r.Clear, r.NoData = "", "", 0, nil, nil, ""
		return nil
	case apiv1.RuleCheckFailed, apiv1.RuleServiceStopped:
		r.Metric = CheckUpMetric
		if r.Kind == apiv1.RuleServiceStopped {
			r.Metric = ServiceRunningMetric
		}
		r.Op, r.Threshold, r.Warning, r.Clear = "==", 0, nil, nil
	}
	if r.Op == "" {
		r.Op = ">"
	}
	switch {
	case !wire.ValidName(r.Metric):
		return &FieldError{"metric", "must be a metric name like cpu_usage_percent"}
	case !slices.Contains(ops, r.Op):
		return &FieldError{"op", fmt.Sprintf("must be one of %v", ops)}
	case !finite(r.Threshold):
		return &FieldError{"threshold", "must be a finite number"}
	case !slices.Contains([]string{"", NoDataKeep, NoDataResolve, NoDataAlert}, r.NoData):
		return &FieldError{"no_data", fmt.Sprintf("must be one of %q, %q, %q", NoDataKeep, NoDataResolve, NoDataAlert)}
	}
	above := r.Op == ">" || r.Op == ">="
	ordered := above || r.Op == "<" || r.Op == "<="
	if w := r.Warning; w != nil {
		switch {
		case !finite(*w):
			return &FieldError{"warning", "must be a finite number"}
		case !ordered:
			return &FieldError{"warning", "needs op >, >=, < or <="}
		case apiv1.SeverityRank(r.Severity) <= apiv1.SeverityRank(apiv1.SeverityWarning):
			return &FieldError{"severity", "must be critical or very_critical when a warning threshold is set"}
		case above && *w >= r.Threshold:
			return &FieldError{"warning", "must be below threshold for op " + r.Op}
		case !above && *w <= r.Threshold:
			return &FieldError{"warning", "must be above threshold for op " + r.Op}
		}
	}
	if c := r.Clear; c != nil {
		low := r.Threshold
		if r.Warning != nil {
			low = *r.Warning
		}
		switch {
		case !finite(*c):
			return &FieldError{"clear", "must be a finite number"}
		case !ordered:
			return &FieldError{"clear", "needs op >, >=, < or <="}
		case above && *c > low:
			return &FieldError{"clear", "must be at or below the lowest threshold for op " + r.Op}
		case !above && *c < low:
			return &FieldError{"clear", "must be at or above the highest threshold for op " + r.Op}
		}
	}
	return nil
}

// maxEscalationSteps bounds an escalation chain.
const maxEscalationSteps = 10

// ValidateEscalation checks an escalation chain: at most ten steps, each
// with 1 to 20 channels, their times rising and within 168h. The error
// names the step, e.g. "escalation[1].after".
func ValidateEscalation(field string, steps []apiv1.EscalationStep) error {
	if len(steps) > maxEscalationSteps {
		return &FieldError{field, fmt.Sprintf("at most %d steps", maxEscalationSteps)}
	}
	for i, st := range steps {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case st.After < 0 || time.Duration(st.After) > maxFor:
			return &FieldError{f + ".after", "must be between 0s and 168h"}
		case i > 0 && st.After <= steps[i-1].After:
			return &FieldError{f + ".after", "must be later than the step before"}
		case len(st.Channels) == 0 || len(st.Channels) > 20:
			return &FieldError{f + ".channels", "1 to 20 channels"}
		}
		for _, c := range st.Channels {
			if len(c) > 64 || !validID(c) {
				return &FieldError{f + ".channels", fmt.Sprintf("%q is not a channel name", c)}
			}
		}
	}
	return nil
}

// validMatch checks matchers: label names, bounded values, valid globs.
func validMatch(field string, m map[string]string) error {
	for k, v := range m {
		if !wire.ValidName(k) {
			return &FieldError{field, fmt.Sprintf("label name %q is not valid", k)}
		}
		if len(v) > wire.MaxLabelValueLen {
			return &FieldError{field, fmt.Sprintf("value of %s is too long", k)}
		}
		if isGlob(v) {
			if _, err := path.Match(v, ""); err != nil {
				return &FieldError{field, fmt.Sprintf("value of %s: bad pattern %q", k, v)}
			}
		}
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// isGlob reports whether a matcher value is a pattern (web-*, db-?).
func isGlob(v string) bool { return strings.ContainsAny(v, "*?[") }

// matchValue matches one label value against a matcher value: equal, or a
// glob pattern.
func matchValue(pattern, v string) bool {
	if !isGlob(pattern) {
		return pattern == v
	}
	ok, _ := path.Match(pattern, v)
	return ok
}

// level is the severity at which value v meets rule r, or "" when it meets
// neither threshold, and the threshold that it met.
func level(r *apiv1.Rule, v float64) (string, float64) {
	if compare(v, r.Op, r.Threshold) {
		return r.Severity, r.Threshold
	}
	if r.Warning != nil && compare(v, r.Op, *r.Warning) {
		return apiv1.SeverityWarning, *r.Warning
	}
	return "", 0
}

// held reports whether a firing alert of r stays firing at value v: it
// meets a threshold, or has not yet crossed the clear threshold.
func held(r *apiv1.Rule, v float64) bool {
	if lvl, _ := level(r, v); lvl != "" {
		return true
	}
	return r.Clear != nil && compare(v, r.Op, *r.Clear)
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
