// Package alert evaluates alert rules as samples arrive and keeps each alert's
// lifecycle: inactive → pending → firing → resolved. Every transition is
// stored in the history with its time and value and handed back to the
// caller, which publishes it and routes it to the notification channels.
package alert

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"esmon/core/apiv1"
	"esmon/core/store"
	"esmon/core/wire"
)

// State is where an alert is in its lifecycle.
type State int

// The states, in lifecycle order.
const (
	Inactive State = iota
	Pending
	Firing
	Resolved
)

func (s State) String() string {
	switch s {
	case Inactive:
		return apiv1.StateInactive
	case Pending:
		return apiv1.StatePending
	case Firing:
		return apiv1.StateFiring
	case Resolved:
		return apiv1.StateResolved
	}
	return "unknown"
}

// Engine holds the rules and the active alerts. It is safe for concurrent use.
type Engine struct {
	kv  store.KV
	log *slog.Logger

	mu       sync.Mutex // guards the fields below
	rules    map[string]apiv1.Rule
	byMetric map[string][]string // metric -> ids of enabled threshold rules
	active   map[string]*instance
	histSeq  uint64
}

// instance is a pending or firing alert.
type instance struct {
	Alert  apiv1.Alert
	Series string // series key without host, for matching on rule changes
}

// Open loads rules and active alerts from kv, seeding the default rules when
// there are none yet.
func Open(kv store.KV, log *slog.Logger) (*Engine, error) {
	e := &Engine{kv: kv, log: log, rules: map[string]apiv1.Rule{}, active: map[string]*instance{}}
	var errs []error
	err := kv.Scan([]byte{store.PrefixRules}, func(k, v []byte) bool {
		var r apiv1.Rule
		if err := json.Unmarshal(v, &r); err != nil {
			errs = append(errs, fmt.Errorf("rule %s: %w", k[1:], err))
			return true
		}
		e.rules[r.ID] = r
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("load rules: %w", err)
	}
	if _, err := kv.Get([]byte{store.PrefixMeta, 'r'}); errors.Is(err, store.ErrNotFound) {
		for _, r := range DefaultRules() {
			if err := e.saveRule(r); err != nil {
				return nil, fmt.Errorf("seed rules: %w", err)
			}
			e.rules[r.ID] = r
		}
		if err := kv.Put([]byte{store.PrefixMeta, 'r'}, []byte("seeded")); err != nil {
			return nil, fmt.Errorf("seed rules: %w", err)
		}
		log.Info("seeded default alert rules", "count", len(e.rules))
	}
	err = kv.Scan([]byte{store.PrefixAlertState}, func(k, v []byte) bool {
		var in instance
		if err := json.Unmarshal(v, &in); err != nil {
			errs = append(errs, fmt.Errorf("alert %s: %w", k[1:], err))
			return true
		}
		e.active[in.Alert.ID] = &in
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("load alerts: %w", err)
	}
	err = kv.Scan([]byte{store.PrefixAlertHistory}, func(k, _ []byte) bool {
		if len(k) == 17 {
			e.histSeq = max(e.histSeq, binary.BigEndian.Uint64(k[9:]))
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("load alert history: %w", err)
	}
	for _, err := range errs {
		log.Warn("skipped unreadable alert record", "err", err)
	}
	e.reindex()
	return e, nil
}

// DefaultRules are seeded on first start.
func DefaultRules() []apiv1.Rule {
	m := func(min int) apiv1.Duration { return apiv1.Duration(time.Duration(min) * time.Minute) }
	return []apiv1.Rule{
		{ID: "high-cpu", Name: "High CPU", Kind: apiv1.RuleThreshold, Metric: wire.CPUUsagePercent, Op: ">", Threshold: 90, For: m(5), Severity: apiv1.SeverityCritical, Enabled: true},
		{ID: "high-memory", Name: "High memory use", Kind: apiv1.RuleThreshold, Metric: wire.MemoryUsedPercent, Op: ">", Threshold: 90, For: m(5), Severity: apiv1.SeverityWarning, Enabled: true},
		{ID: "disk-filling", Name: "Disk filling up", Kind: apiv1.RuleThreshold, Metric: wire.DiskUsedPercent, Op: ">", Threshold: 85, For: m(5), Severity: apiv1.SeverityWarning, Enabled: true},
		{ID: "disk-full", Name: "Disk almost full", Kind: apiv1.RuleThreshold, Metric: wire.DiskUsedPercent, Op: ">", Threshold: 95, For: m(1), Severity: apiv1.SeverityVeryCritical, Enabled: true},
		{ID: "high-swap", Name: "High swap use", Kind: apiv1.RuleThreshold, Metric: wire.SwapUsedPercent, Op: ">", Threshold: 80, For: m(10), Severity: apiv1.SeverityWarning, Enabled: true},
		{ID: "jvm-heap", Name: "JVM heap nearly full", Kind: apiv1.RuleThreshold, Metric: wire.JVMHeapUsedPercent, Op: ">", Threshold: 90, For: m(5), Severity: apiv1.SeverityCritical, Enabled: true},
		{ID: "agent-offline", Name: "Agent offline", Kind: apiv1.RuleAgentOffline, For: apiv1.Duration(time.Minute), Severity: apiv1.SeverityCritical, Enabled: true},
	}
}

// Eval evaluates the rules against samples from host and returns the
// transitions they cause. Any sample from a host also resolves its
// agent-offline alerts.
func (e *Engine) Eval(host string, samples []store.Sample) []apiv1.Transition {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []apiv1.Transition
	if len(samples) > 0 {
		out = e.resolveOffline(host, time.UnixMilli(samples[len(samples)-1].T))
	}
	for i := range samples {
		s := &samples[i]
		ids := e.byMetric[s.Metric]
		if len(ids) == 0 || !wire.Finite(s.V) {
			continue
		}
		for _, id := range ids {
			r := e.rules[id]
			if !matches(s.Labels, r.Match) {
				continue
			}
			if t, ok := e.step(r, s, time.UnixMilli(s.T)); ok {
				out = append(out, t)
			}
		}
	}
	return out
}

// step moves the alert of rule r on sample s's series; ok is false when the
// state did not change.
func (e *Engine) step(r apiv1.Rule, s *store.Sample, at time.Time) (apiv1.Transition, bool) {
	series := store.SeriesKey(s.Metric, s.Labels)
	id := alertID(r.ID, series)
	in := e.active[id]
	cond := compare(s.V, r.Op, r.Threshold)
	switch {
	case cond && in == nil:
		in = &instance{Alert: apiv1.Alert{
			ID: id, RuleID: r.ID, RuleName: r.Name, Host: s.Labels.Get("host"),
			Metric: s.Metric, Labels: s.Labels.Map(), Severity: r.Severity,
			Op: r.Op, Threshold: r.Threshold, ActiveAt: at,
		}, Series: series}
		e.active[id] = in
		if r.For <= 0 {
			return e.move(in, r, Inactive, Firing, s.V, at), true
		}
		return e.move(in, r, Inactive, Pending, s.V, at), true
	case cond && in.Alert.State == apiv1.StatePending:
		if at.Sub(in.Alert.ActiveAt) >= time.Duration(r.For) {
			return e.move(in, r, Pending, Firing, s.V, at), true
		}
		in.Alert.Value = s.V
	case cond:
		in.Alert.Value = s.V
	case in != nil && in.Alert.State == apiv1.StatePending:
		return e.move(in, r, Pending, Inactive, s.V, at), true
	case in != nil:
		return e.move(in, r, Firing, Resolved, s.V, at), true
	}
	return apiv1.Transition{}, false
}

// move applies one transition, persists it and returns it. The caller holds
// the lock.
func (e *Engine) move(in *instance, r apiv1.Rule, from, to State, v float64, at time.Time) apiv1.Transition {
	a := &in.Alert
	a.State = to.String()
	a.Value = v
	a.RuleName, a.Severity, a.Op, a.Threshold = r.Name, r.Severity, r.Op, r.Threshold
	switch to {
	case Firing:
		a.FiredAt = at
	case Resolved:
		a.ResolvedAt = at
	}
	a.Summary = summary(r, a)
	t := apiv1.Transition{Alert: *a, From: from.String(), To: to.String(), At: at, Value: v}
	t.Alert.Labels = maps.Clone(a.Labels)
	key := append([]byte{store.PrefixAlertState}, a.ID...)
	var err error
	if to == Resolved || to == Inactive {
		delete(e.active, a.ID)
		err = e.kv.Delete(key)
	} else {
		var b []byte
		b, err = json.Marshal(in)
		if err == nil {
			err = e.kv.Put(key, b)
		}
	}
	if err != nil {
		e.log.Error("save alert state", "alert", a.ID, "err", err)
	}
	e.histSeq++
	hk := make([]byte, 17)
	hk[0] = store.PrefixAlertHistory
	binary.BigEndian.PutUint64(hk[1:], uint64(at.UnixNano()))
	binary.BigEndian.PutUint64(hk[9:], e.histSeq)
	if b, err := json.Marshal(t); err != nil {
		e.log.Error("encode alert history", "err", err)
	} else if err := e.kv.Put(hk, b); err != nil {
		e.log.Error("save alert history", "alert", a.ID, "err", err)
	}
	e.log.Info("alert", "rule", r.Name, "host", a.Host, "from", t.From, "to", t.To, "value", v, "severity", a.Severity)
	return t
}

// EvalOffline fires agent-offline alerts for hosts silent longer than a
// rule's For, as of now.
func (e *Engine) EvalOffline(hosts []apiv1.Host, now time.Time) []apiv1.Transition {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []apiv1.Transition
	for _, r := range e.rules {
		if r.Kind != apiv1.RuleAgentOffline || !r.Enabled {
			continue
		}
		for _, h := range hosts {
			if h.LastSeen.IsZero() || !matchesHost(h.ID, r.Match) {
				continue
			}
			silent := now.Sub(h.LastSeen)
			id := alertID(r.ID, h.ID)
			if silent < time.Duration(r.For) || e.active[id] != nil {
				continue
			}
			in := &instance{Alert: apiv1.Alert{
				ID: id, RuleID: r.ID, RuleName: r.Name, Host: h.ID,
				Labels: map[string]string{"host": h.ID}, ActiveAt: h.LastSeen,
				Threshold: time.Duration(r.For).Seconds(), Op: ">",
			}}
			e.active[id] = in
			out = append(out, e.move(in, r, Inactive, Firing, silent.Seconds(), now))
		}
	}
	return out
}

// resolveOffline resolves the agent-offline alerts of host. The caller holds
// the lock.
func (e *Engine) resolveOffline(host string, at time.Time) []apiv1.Transition {
	var out []apiv1.Transition
	for _, r := range e.rules {
		if r.Kind != apiv1.RuleAgentOffline {
			continue
		}
		if in := e.active[alertID(r.ID, host)]; in != nil {
			out = append(out, e.move(in, r, Firing, Resolved, at.Sub(in.Alert.ActiveAt).Seconds(), at))
		}
	}
	return out
}

// Rules returns every rule sorted by name.
func (e *Engine) Rules() []apiv1.Rule {
	e.mu.Lock()
	out := slices.Collect(maps.Values(e.rules))
	e.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		return out[i].Name < out[j].Name || out[i].Name == out[j].Name && out[i].ID < out[j].ID
	})
	for i := range out {
		out[i].Match = maps.Clone(out[i].Match)
	}
	return out
}

// Rule returns one rule.
func (e *Engine) Rule(id string) (apiv1.Rule, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.rules[id]
	r.Match = maps.Clone(r.Match)
	return r, ok
}

// ErrNoRule is returned for an unknown rule id.
var ErrNoRule = errors.New("no such rule")

// PutRule validates and stores r, creating it when r.ID is empty. Active
// alerts of the rule are re-evaluated at once with their last value, so a
// change that clears the condition resolves them without waiting for data.
func (e *Engine) PutRule(r apiv1.Rule, create bool) (apiv1.Rule, []apiv1.Transition, error) {
	if err := Validate(&r); err != nil {
		return apiv1.Rule{}, nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if create {
		r.ID = newRuleID()
	} else if _, ok := e.rules[r.ID]; !ok {
		return apiv1.Rule{}, nil, ErrNoRule
	}
	if err := e.saveRule(r); err != nil {
		return apiv1.Rule{}, nil, err
	}
	e.rules[r.ID] = r
	e.reindex()
	return r, e.recheck(r.ID), nil
}

// DeleteRule removes a rule and resolves its alerts.
func (e *Engine) DeleteRule(id string) ([]apiv1.Transition, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.rules[id]; !ok {
		return nil, ErrNoRule
	}
	if err := e.kv.Delete(append([]byte{store.PrefixRules}, id...)); err != nil {
		return nil, fmt.Errorf("delete rule: %w", err)
	}
	r := e.rules[id]
	r.Enabled = false
	e.rules[id] = r
	out := e.recheck(id)
	delete(e.rules, id)
	e.reindex()
	return out, nil
}

// recheck re-evaluates the active alerts of rule id after it changed. The
// caller holds the lock.
func (e *Engine) recheck(id string) []apiv1.Transition {
	r := e.rules[id]
	now := time.Now()
	var out []apiv1.Transition
	for _, in := range e.active {
		if in.Alert.RuleID != id {
			continue
		}
		a := &in.Alert
		from := Firing
		if a.State == apiv1.StatePending {
			from = Pending
		}
		end := Resolved
		if from == Pending {
			end = Inactive
		}
		keep := r.Enabled
		if keep && r.Kind == apiv1.RuleThreshold {
			ls := labelsOf(a.Labels)
			keep = a.Metric == r.Metric && matches(ls, r.Match) && compare(a.Value, r.Op, r.Threshold)
		}
		if !keep {
			out = append(out, e.move(in, r, from, end, a.Value, now))
		}
	}
	return out
}

// Active returns the pending and firing alerts, most severe first.
func (e *Engine) Active() []apiv1.Alert {
	e.mu.Lock()
	out := make([]apiv1.Alert, 0, len(e.active))
	for _, in := range e.active {
		a := in.Alert
		a.Labels = maps.Clone(a.Labels)
		out = append(out, a)
	}
	e.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		ri, rj := apiv1.SeverityRank(out[i].Severity), apiv1.SeverityRank(out[j].Severity)
		if ri != rj {
			return ri > rj
		}
		return out[i].ActiveAt.Before(out[j].ActiveAt)
	})
	return out
}

// Worst returns, per host, the worst severity among its firing alerts.
func (e *Engine) Worst() map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	w := make(map[string]string)
	for _, in := range e.active {
		a := in.Alert
		if a.State == apiv1.StateFiring && apiv1.SeverityRank(a.Severity) > apiv1.SeverityRank(w[a.Host]) {
			w[a.Host] = a.Severity
		}
	}
	return w
}

// History returns up to limit transitions, newest first.
func (e *Engine) History(limit int) ([]apiv1.Transition, error) {
	var all []apiv1.Transition
	err := e.kv.Scan([]byte{store.PrefixAlertHistory}, func(_, v []byte) bool {
		var t apiv1.Transition
		if json.Unmarshal(v, &t) == nil {
			all = append(all, t)
		}
		return true
	})
	slices.Reverse(all)
	if limit > 0 && len(all) > limit {
		all = all[:limit]
	}
	return all, err
}

func (e *Engine) saveRule(r apiv1.Rule) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return e.kv.Put(append([]byte{store.PrefixRules}, r.ID...), b)
}

// reindex rebuilds byMetric; the caller holds the lock (or owns e).
func (e *Engine) reindex() {
	e.byMetric = make(map[string][]string)
	for _, r := range e.rules {
		if r.Enabled && r.Kind == apiv1.RuleThreshold {
			e.byMetric[r.Metric] = append(e.byMetric[r.Metric], r.ID)
		}
	}
}

func compare(v float64, op string, thr float64) bool {
	switch op {
	case ">":
		return v > thr
	case ">=":
		return v >= thr
	case "<":
		return v < thr
	case "<=":
		return v <= thr
	case "==":
		return v == thr
	case "!=":
		return v != thr
	}
	return false
}

func matches(ls store.Labels, match map[string]string) bool {
	for k, v := range match {
		if ls.Get(k) != v {
			return false
		}
	}
	return true
}

func matchesHost(host string, match map[string]string) bool {
	v, ok := match["host"]
	return !ok || v == host
}

func labelsOf(m map[string]string) store.Labels {
	ls := make(store.Labels, 0, len(m))
	for k, v := range m {
		ls = append(ls, store.Label{Name: k, Value: v})
	}
	ls.Sort()
	return ls
}

func alertID(rule, series string) string {
	h := fnv.New64a()
	h.Write([]byte(rule))
	h.Write([]byte{0})
	h.Write([]byte(series))
	return strconv.FormatUint(h.Sum64(), 16)
}

func summary(r apiv1.Rule, a *apiv1.Alert) string {
	if r.Kind == apiv1.RuleAgentOffline {
		return fmt.Sprintf("%s: %s sent nothing for %s", r.Name, a.Host, (time.Duration(a.Value) * time.Second).Round(time.Second))
	}
	what := a.Metric
	if len(a.Labels) > 1 {
		ls := labelsOf(a.Labels)
		var rest store.Labels
		for _, l := range ls {
			if l.Name != "host" {
				rest = append(rest, l)
			}
		}
		what = store.SeriesKey(a.Metric, rest)
	}
	return fmt.Sprintf("%s on %s: %s is %s (%s %s)", r.Name, a.Host, what, fmtValue(a.Value), r.Op, fmtValue(r.Threshold))
}

func fmtValue(v float64) string {
	if math.Abs(v) >= 1e6 || v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'g', 6, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}
