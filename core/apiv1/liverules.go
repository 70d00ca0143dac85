package apiv1

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// LiveRule is a rule as alerts on /ws/live name it: its number on the
// feed, and the four fields every alert of the rule repeats (its id and
// name, the metric and the comparison). A fresh alert going pending names
// its rule by the number (AlertBrief with BriefRefs.Rule) where it carried
// the four, about 50 bytes of each such event: at 2,000 rules over a
// large fleet, alerts going pending are a large share of what every page
// gets. The number comes before any alert that uses it: in the snapshot's
// "rules", or in an EventRule message. On the wire it is an array, [n,
// rule_id, rule_name, metric, op].
type LiveRule struct {
	N                    uint32
	ID, Name, Metric, Op string
}

// RuleOf is the LiveRule an alert names (N zero).
func RuleOf(a *Alert) LiveRule {
	return LiveRule{ID: a.RuleID, Name: a.RuleName, Metric: a.Metric, Op: a.Op}
}

// MarshalJSON writes the rule as [n, rule_id, rule_name, metric, op],
// without HTML escapes (a rule's op is often ">").
func (r LiveRule) MarshalJSON() ([]byte, error) {
	return marshalNoEscape([5]any{r.N, r.ID, r.Name, r.Metric, r.Op})
}

// UnmarshalJSON reads [n, rule_id, rule_name, metric, op]; n must not be 0.
func (r *LiveRule) UnmarshalJSON(data []byte) error {
	var a []json.RawMessage
	if err := json.Unmarshal(data, &a); err != nil {
		return fmt.Errorf("live rule: %w", err)
	}
	if len(a) != 5 {
		return fmt.Errorf("live rule: %d fields, want 5", len(a))
	}
	for i, dst := range []any{&r.N, &r.ID, &r.Name, &r.Metric, &r.Op} {
		if err := json.Unmarshal(a[i], dst); err != nil {
			return fmt.Errorf("live rule, field %d: %w", i, err)
		}
	}
	if r.N == 0 {
		return fmt.Errorf("live rule %q without a number", r.ID)
	}
	return nil
}

// ruleEventOpen is how an EventRule message begins.
const ruleEventOpen = `{"type":"r","r":`

// RuleEvent encodes an EventRule message: {"type":"r","r":[n, rule_id,
// rule_name, metric, op]}.
func RuleEvent(r LiveRule) ([]byte, error) {
	b, err := r.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return append(append([]byte(ruleEventOpen), b...), '}'), nil
}

// RuleEventRow returns the array of a rule event message (what RuleEvent
// makes), as a snapshot's "rules" carries it, and whether msg is one.
func RuleEventRow(msg []byte) ([]byte, bool) {
	if len(msg) <= len(ruleEventOpen) || string(msg[:len(ruleEventOpen)]) != ruleEventOpen {
		return nil, false
	}
	return msg[len(ruleEventOpen) : len(msg)-1], true
}

// PlainSummary is the summary the alert engine gives an alert of a rule
// without a summary of its own: "High CPU on web-01: cpu_usage_percent is
// 91.25 (> 90)", with what the series' metric (and its labels other than
// host, when it has any). A short alert event leaves out a summary that is
// this one of the alert's own fields, and the reader builds it again: the
// web page with the same formula (webui/src/fmtvalue.js formats the
// numbers exactly as FormatValue does).
func PlainSummary(ruleName, host, what string, value float64, op string, threshold float64) string {
	return ruleName + " on " + host + ": " + what + " is " + FormatValue(value) + " (" + op + " " + FormatValue(threshold) + ")"
}

// plainSummaryOf is the plain summary of an alert whose labels are only
// its host, with value and threshold as given.
func plainSummaryOf(a *Alert, value, threshold float64) string {
	return PlainSummary(a.RuleName, a.Host, a.Metric, value, a.Op, threshold)
}

// FormatValue writes a value for people: whole numbers and large ones
// with up to six significant digits ("42", "1.23457e+06"), others with
// two decimals ("91.25", "0.50").
func FormatValue(v float64) string {
	if math.Abs(v) >= 1e6 || v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'g', 6, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}
