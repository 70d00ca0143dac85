package alert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"gopkg.in/yaml.v3"

	"esmon/core/apiv1"
	"esmon/core/store"
)

// ErrNoRule is returned for an unknown rule id.
var ErrNoRule = errors.New("no such rule")

// Rules returns every rule sorted by name.
func (e *Engine) Rules() []apiv1.Rule {
	e.mu.Lock()
	out := make([]apiv1.Rule, 0, len(e.rules))
	for _, r := range e.rules {
		out = append(out, cloneRule(r))
	}
	e.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		return out[i].Name < out[j].Name || out[i].Name == out[j].Name && out[i].ID < out[j].ID
	})
	return out
}

// Rule returns one rule.
func (e *Engine) Rule(id string) (apiv1.Rule, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.rules[id]
	if !ok {
		return apiv1.Rule{}, false
	}
	return cloneRule(r), true
}

func cloneRule(r *apiv1.Rule) apiv1.Rule {
	c := *r
	c.Match = maps.Clone(r.Match)
	c.Channels = slices.Clone(r.Channels)
	if r.Warning != nil {
		w := *r.Warning
		c.Warning = &w
	}
	if r.Clear != nil {
		v := *r.Clear
		c.Clear = &v
	}
	if r.Escalation != nil {
		c.Escalation = make([]apiv1.EscalationStep, len(r.Escalation))
		for i, st := range r.Escalation {
			c.Escalation[i] = apiv1.EscalationStep{After: st.After, Channels: slices.Clone(st.Channels)}
		}
	}
	return c
}

// validate is Validate plus the checks that need the engine: the channels
// a rule names exist. The caller holds the lock.
func (e *Engine) validate(r *apiv1.Rule) error {
	if err := Validate(r); err != nil {
		return err
	}
	if e.channels == nil {
		return nil
	}
	for _, c := range r.Channels {
		if !slices.Contains(e.channels, c) {
			return &FieldError{"channels", fmt.Sprintf("no channel %q; configured: %v", c, e.channels)}
		}
	}
	if r.EscalateTo != "" && !slices.Contains(e.channels, r.EscalateTo) {
		return &FieldError{"escalate_to", fmt.Sprintf("no channel %q; configured: %v", r.EscalateTo, e.channels)}
	}
	return e.knownChannels("escalation", r.Escalation)
}

// knownChannels checks that the channels of an escalation chain exist. The
// caller holds the lock.
func (e *Engine) knownChannels(field string, steps []apiv1.EscalationStep) error {
	if e.channels == nil {
		return nil
	}
	for i, st := range steps {
		for _, c := range st.Channels {
			if !slices.Contains(e.channels, c) {
				return &FieldError{fmt.Sprintf("%s[%d].channels", field, i), fmt.Sprintf("no channel %q; configured: %v", c, e.channels)}
			}
		}
	}
	return nil
}

// PutRule validates and stores r, creating it when create is set. Who made
// the change is r.UpdatedBy (the API sets it), recorded in the audit trail.
// Active alerts of the rule are re-evaluated at once with their last value,
// so a change that clears the condition resolves them without waiting for
// data.
func (e *Engine) PutRule(r apiv1.Rule, create bool) (apiv1.Rule, []apiv1.Transition, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.validate(&r); err != nil {
		return apiv1.Rule{}, nil, err
	}
	action := "updated"
	if create {
		r.ID, action = newID(), "created"
	} else if _, ok := e.rules[r.ID]; !ok {
		return apiv1.Rule{}, nil, ErrNoRule
	}
	ts, err := e.putRule(r, action, time.Now())
	if err != nil {
		return apiv1.Rule{}, nil, err
	}
	return cloneRule(e.rules[r.ID]), ts, nil
}

// putRule stores a valid rule, audits the change, reindexes and
// re-evaluates the rule's alerts. The caller holds the lock.
func (e *Engine) putRule(r apiv1.Rule, action string, now time.Time) ([]apiv1.Transition, error) {
	if err := e.storeRule(r, action, now); err != nil {
		return nil, err
	}
	e.reindex()
	return e.recheck(map[string]bool{r.ID: true}, now), nil
}

// storeRule stores a valid rule and audits the change; the caller
// reindexes and rechecks. The caller holds the lock.
func (e *Engine) storeRule(r apiv1.Rule, action string, now time.Time) error {
	if r.UpdatedBy == "" {
		r.UpdatedBy = "system"
	}
	r.UpdatedAt = now
	if err := e.saveRule(r); err != nil {
		return fmt.Errorf("save rule: %w", err)
	}
	e.rules[r.ID] = &r
	e.audit(apiv1.RuleChange{RuleID: r.ID, Action: action, By: r.UpdatedBy, At: now, Rule: &r})
	return nil
}

// SetEnabled enables or disables a rule; disabling resolves its alerts.
func (e *Engine) SetEnabled(id string, enabled bool, by string) (apiv1.Rule, []apiv1.Transition, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	old, ok := e.rules[id]
	if !ok {
		return apiv1.Rule{}, nil, ErrNoRule
	}
	r := cloneRule(old)
	r.Enabled, r.UpdatedBy = enabled, by
	action := "disabled"
	if enabled {
		action = "enabled"
	}
	ts, err := e.putRule(r, action, time.Now())
	if err != nil {
		return apiv1.Rule{}, nil, err
	}
	return cloneRule(e.rules[id]), ts, nil
}

// DeleteRule removes a rule and resolves its alerts.
func (e *Engine) DeleteRule(id, by string) ([]apiv1.Transition, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.rules[id]
	if !ok {
		return nil, ErrNoRule
	}
	if err := e.kv.Delete(append([]byte{store.PrefixRules}, id...)); err != nil {
		return nil, fmt.Errorf("delete rule: %w", err)
	}
	now := time.Now()
	off := cloneRule(r)
	off.Enabled = false
	e.rules[id] = &off
	out := e.recheck(map[string]bool{id: true}, now)
	delete(e.rules, id)
	e.reindex()
	e.audit(apiv1.RuleChange{RuleID: id, Action: "deleted", By: by, At: now})
	return out, nil
}

// RuleSet is the YAML document of rule import and export.
type RuleSet struct {
	Rules []apiv1.Rule `yaml:"rules"`
}

// Export writes every rule as YAML.
func (e *Engine) Export() ([]byte, error) {
	b, err := yaml.Marshal(RuleSet{Rules: e.Rules()})
	if err != nil {
		return nil, fmt.Errorf("export rules: %w", err)
	}
	return b, nil
}

// maxImport bounds the rules one import may carry.
const maxImport = 20_000

// Import reads a YAML rule set and stores every rule in it: a rule with the
// id of an existing rule replaces it, any other is created (with its id if
// it has one). Nothing is stored unless every rule is valid; the error
// names the rule by position, e.g. "rules[3].threshold".
func (e *Engine) Import(doc []byte, by string) (created, updated int, ts []apiv1.Transition, err error) {
	var set RuleSet
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&set); err != nil {
		return 0, 0, nil, &FieldError{"rules", "not a YAML rule set: " + err.Error()}
	}
	if len(set.Rules) > maxImport {
		return 0, 0, nil, &FieldError{"rules", fmt.Sprintf("at most %d rules per import", maxImport)}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	ids := map[string]bool{}
	for i := range set.Rules {
		r := &set.Rules[i]
		if err := e.validate(r); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				return 0, 0, nil, &FieldError{fmt.Sprintf("rules[%d].%s", i, fe.Field), fe.Msg}
			}
			return 0, 0, nil, err
		}
		if r.ID != "" && (len(r.ID) > 64 || !validID(r.ID)) {
			return 0, 0, nil, &FieldError{fmt.Sprintf("rules[%d].id", i), "must be 1 to 64 letters, digits, - or _"}
		}
		if r.ID != "" && ids[r.ID] {
			return 0, 0, nil, &FieldError{fmt.Sprintf("rules[%d].id", i), "appears twice"}
		}
		ids[r.ID] = true
	}
	now := time.Now()
	changed := map[string]bool{}
	defer func() {
		e.reindex()
		ts = e.recheck(changed, now)
	}()
	for _, r := range set.Rules {
		if r.ID == "" {
			r.ID = newID()
		}
		if _, ok := e.rules[r.ID]; ok {
			updated++
		} else {
			created++
		}
		r.UpdatedBy = by
		if err := e.storeRule(r, "imported", now); err != nil {
			return created, updated, nil, err
		}
		changed[r.ID] = true
	}
	return created, updated, nil, nil
}

func validID(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return s != ""
}

// RuleChanges returns up to limit entries of the rules' audit trail, newest
// first.
func (e *Engine) RuleChanges(limit int) ([]apiv1.RuleChange, error) {
	var all []apiv1.RuleChange
	err := e.kv.Scan([]byte{store.PrefixRuleAudit}, func(_, v []byte) bool {
		var c apiv1.RuleChange
		if json.Unmarshal(v, &c) == nil {
			all = append(all, c)
		}
		return true
	})
	slices.Reverse(all)
	if limit > 0 && len(all) > limit {
		all = all[:limit]
	}
	return all, err
}

// audit records a rule change. The caller holds the lock.
func (e *Engine) audit(c apiv1.RuleChange) {
	e.auditSeq++
	b, err := json.Marshal(c)
	if err == nil {
		err = e.kv.Put(timeKey(store.PrefixRuleAudit, c.At, e.auditSeq), b)
	}
	if err != nil {
		e.log.Error("save rule audit", "rule", c.RuleID, "err", err)
	}
	e.log.Info("rule "+c.Action, "rule", c.RuleID, "by", c.By)
}

// recheck re-evaluates the active alerts of the rules ids after they
// changed. The caller holds the lock.
func (e *Engine) recheck(ids map[string]bool, now time.Time) []apiv1.Transition {
	var out []apiv1.Transition
	for _, key := range slices.Sorted(maps.Keys(e.active)) {
		in := e.active[key]
		if !ids[in.Alert.RuleID] {
			continue
		}
		r := e.rules[in.Alert.RuleID]
		a := &in.Alert
		from := stateOf(a.State)
		end := Resolved
		if from == Pending {
			end = Inactive
		}
		keep := r.Enabled
		if keep && r.Kind != apiv1.RuleAgentOffline {
			keep = a.Metric == r.Metric && matches(labelsOf(a.Labels), e.tags[a.Host], r.Match)
			if keep && from == Pending {
				lvl, _ := level(r, a.Value)
				keep = lvl != ""
			} else if keep {
				keep = held(r, a.Value)
			}
		}
		if !keep {
			out = append(out, e.move(in, r, from, end, a.Value, now, ""))
			continue
		}
		if r.Kind == apiv1.RuleAgentOffline {
			continue
		}
		if lvl, thr := level(r, a.Value); lvl != "" && (lvl != a.Severity || thr != a.Threshold) {
			a.Severity, a.Threshold = lvl, thr
			if from == Firing {
				out = append(out, e.move(in, r, Firing, Firing, a.Value, now, ReasonSeverity))
			}
		}
	}
	return out
}

func (e *Engine) saveRule(r apiv1.Rule) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return e.kv.Put(append([]byte{store.PrefixRules}, r.ID...), b)
}

// reindex rebuilds the metric index and the list of agent-offline rules,
// and so outdates every host's match cache (hostMatches); the caller holds
// the lock (or owns e).
func (e *Engine) reindex() {
	e.matchGen++
	e.index = make(map[string]*metricRules)
	e.compiled = make(map[string]*indexedRule)
	e.offline = e.offline[:0]
	e.maxFlapWindow = e.flapWindow
	for _, id := range slices.Sorted(maps.Keys(e.rules)) {
		r := e.rules[id]
		e.maxFlapWindow = max(e.maxFlapWindow, time.Duration(r.FlapWindow))
		if r.Kind == apiv1.RuleAgentOffline {
			e.offline = append(e.offline, r)
			continue
		}
		if !r.Enabled {
			continue
		}
		mr := e.index[r.Metric]
		if mr == nil {
			mr = &metricRules{}
			e.index[r.Metric] = mr
		}
		ir := &indexedRule{r: r}
		e.compiled[id] = ir
		h, exact := r.Match["host"]
		exact = exact && !isGlob(h)
		for _, name := range slices.Sorted(maps.Keys(r.Match)) {
			if exact && name == "host" {
				continue
			}
			v := r.Match[name]
			ir.match = append(ir.match, matcher{name: name, value: v, glob: isGlob(v)})
		}
		if exact {
			if mr.byHost == nil {
				mr.byHost = map[string][]*indexedRule{}
			}
			mr.byHost[h] = append(mr.byHost[h], ir)
		} else {
			mr.any = append(mr.any, ir)
		}
	}
	for _, in := range e.active {
		if ir := e.compiled[in.Alert.RuleID]; ir != nil {
			ir.active++
		}
	}
}
