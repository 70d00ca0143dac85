package alert

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
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

// maxFor bounds a rule's hold time; longer holds are almost always a typo.
const maxFor = 7 * 24 * time.Hour

// Validate checks a rule and fills defaults (kind threshold, op >). The error
// is a *FieldError naming the first wrong field.
func Validate(r *apiv1.Rule) error {
	if r.Kind == "" {
		r.Kind = apiv1.RuleThreshold
	}
	switch {
	case r.Name == "" || len(r.Name) > 200:
		return &FieldError{"name", "must be 1 to 200 characters"}
	case r.Kind != apiv1.RuleThreshold && r.Kind != apiv1.RuleAgentOffline:
		return &FieldError{"kind", fmt.Sprintf("must be %q or %q", apiv1.RuleThreshold, apiv1.RuleAgentOffline)}
	case apiv1.SeverityRank(r.Severity) == 0:
		return &FieldError{"severity", fmt.Sprintf("must be one of %v", apiv1.Severities)}
	case r.For < 0 || time.Duration(r.For) > maxFor:
		return &FieldError{"for", "must be between 0s and 168h"}
	case len(r.Summary) > 1000:
		return &FieldError{"summary", "must be at most 1000 characters"}
	case len(r.Match) > wire.MaxLabels:
		return &FieldError{"match", fmt.Sprintf("at most %d matchers", wire.MaxLabels)}
	}
	for k, v := range r.Match {
		if !wire.ValidName(k) {
			return &FieldError{"match", fmt.Sprintf("label name %q is not valid", k)}
		}
		if len(v) > wire.MaxLabelValueLen {
			return &FieldError{"match", fmt.Sprintf("value of %s is too long", k)}
		}
	}
	if r.Kind == apiv1.RuleAgentOffline {
		if r.For <= 0 {
			return &FieldError{"for", "an agent_offline rule needs how long a host may be silent, e.g. \"60s\""}
		}
		r.Metric, r.Op, r.Threshold = "", "", 0
		return nil
	}
	if r.Op == "" {
		r.Op = ">"
	}
	switch {
	case !wire.ValidName(r.Metric):
		return &FieldError{"metric", "must be a metric name like cpu_usage_percent"}
	case !slices.Contains(ops, r.Op):
		return &FieldError{"op", fmt.Sprintf("must be one of %v", ops)}
	case math.IsNaN(r.Threshold) || math.IsInf(r.Threshold, 0):
		return &FieldError{"threshold", "must be a finite number"}
	}
	return nil
}

func newRuleID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
