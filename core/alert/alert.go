// Package alert evaluates alert rules as samples arrive and keeps each alert's
// lifecycle: inactive → pending → firing → resolved, with a change of
// severity while firing, flapping damped, acknowledgements, silences and
// maintenance windows. Every transition is stored in the history with its
// time, value and threshold and handed back to the caller, which publishes
// it and routes it to the notification channels.
package alert

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"esmon/core/apiv1"
	"esmon/core/journal"
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

func stateOf(s string) State {
	switch s {
	case apiv1.StatePending:
		return Pending
	case apiv1.StateFiring:
		return Firing
	case apiv1.StateResolved:
		return Resolved
	}
	return Inactive
}

// Reasons of a transition that is not a change of state.
const (
	ReasonSeverity       = "severity"       // a firing alert's severity changed
	ReasonRepeat         = "repeat"         // still firing, nobody acknowledged: say it again
	ReasonEscalation     = "escalation"     // critical, unacknowledged too long: the next channel
	ReasonFlapping       = "flapping"       // flips too often: held firing
	ReasonNoData         = "no_data"        // the series stopped reporting
	ReasonAcknowledged   = "acknowledged"   // a person took charge
	ReasonUnacknowledged = "unacknowledged" // the acknowledgement was taken back
)

// Flap damping defaults: an alert that starts firing or resolves more
// than DefaultFlapCount times within DefaultFlapWindow stays firing, marked
// flapping, until it has been clear for a whole window.
const (
	DefaultFlapCount  = 6
	DefaultFlapWindow = 10 * time.Minute
)

// Engine holds the rules, the active alerts, silences and maintenance
// windows. It is safe for concurrent use.
type Engine struct {
	kv   store.KV
	hist HistoryLog // the history of transitions
	log  *slog.Logger
	w    *writer // commits transitions and states; see persist.go
	// legacy is set while kv holds history records of earlier versions
	// (under PrefixAlertHistory), read after the journal's until
	// DropHistoryBefore has taken them all.
	legacy atomic.Bool

	mu         sync.Mutex // guards every field below
	rules      map[string]*apiv1.Rule
	index      map[string]*metricRules         // metric -> enabled rules on it
	compiled   map[string]*indexedRule         // rule id -> its index entry
	offline    []*apiv1.Rule                   // agent-offline rules, enabled or not
	up         time.Time                       // when the core started; see Up
	active     map[uint64]*instance            // by alertKey
	activeOn   map[string]map[uint64]*instance // active by host, then alertKey
	flaps      map[uint64][]time.Time          // recent starts and ends of each alert
	seen       map[uint64]*seenSeries          // series of no_data: alert rules
	silences   map[string]apiv1.Silence
	maint      map[string]*maintenance
	channels   []string // known channel names; nil accepts any
	flapCount  int
	flapWindow time.Duration
	// maxFlapWindow is the longest flap window of any rule, for forgetting
	// flap histories.
	maxFlapWindow time.Duration
	// escalation is the default chain of rules without their own.
	escalation []apiv1.EscalationStep
	// tags are each host's tags in force, for the "tag" matcher.
	tags map[string][]string
	// matched caches, per host, which rules each of its series matches
	// (see hostMatches); matchGen counts rebuilds of the rule index, and a
	// host's cache made before the last one is cleared before use.
	matched  map[string]*hostMatches
	matchGen uint64
	matchBuf []ruleMatch // scratch of matchesOf
	auditSeq uint64
}

// hostMatches is the match cache of one host's series, by the series'
// store.SeriesRef: the rules on the series' metric whose matchers (labels
// and the host's tags) it satisfies, found on its first sample. A series'
// labels never change, so the answer holds until the rules change (gen,
// see reindex) or the host's tags do (SetHostTags clears it). A series
// that matches no rule, most of them, costs its map entry and nothing
// more. The cache trusts a sample's Ref to name the series of its Metric
// and Labels, as store.Sample requires. It keeps a host's entries while
// the engine runs, as the store keeps its series.
type hostMatches struct {
	gen    uint64
	series map[store.SeriesRef]*seriesMatch // nil: no rule matches
}

// seriesMatch is the rules one series matches, in the order Eval steps
// them uncached (exact host matcher first, then the rest, each in rule id
// order).
type seriesMatch struct {
	rules []ruleMatch
}

// ruleMatch is a rule a series matches and the key of the rule's alert on
// the series (seriesAlertKey), computed once.
type ruleMatch struct {
	ir  *indexedRule
	key uint64
}

// metricRules are the enabled rules on one metric, split so that a sample
// is checked only against rules that can match its host.
type metricRules struct {
	byHost map[string][]*indexedRule // rules with an exact host matcher
	any    []*indexedRule            // rules without one
}

// indexedRule is a rule as the hot path needs it: its matchers as a slice
// (the exact host matcher left out when the index already checked it) and
// how many active alerts it has, so that a sample under every threshold of
// a rule without alerts costs a comparison and nothing more.
type indexedRule struct {
	r      *apiv1.Rule
	match  []matcher
	active int
}

type matcher struct {
	name, value string
	glob        bool
}

// TagMatcher is the matcher name that matches a host's tags rather than a
// label: {"tag": "prod"} matches the series of hosts tagged prod; a glob
// ("team-*") matches when any tag does.
const TagMatcher = "tag"

// hasTag reports whether one of tags matches pattern.
func hasTag(tags []string, pattern string) bool {
	for _, t := range tags {
		if matchValue(pattern, t) {
			return true
		}
	}
	return false
}

func (ir *indexedRule) matches(ls store.Labels, tags []string) bool {
	for _, m := range ir.match {
		if m.name == TagMatcher {
			if !hasTag(tags, m.value) {
				return false
			}
			continue
		}
		v := ls.Get(m.name)
		if m.glob {
			if ok, _ := path.Match(m.value, v); !ok { // matchValue without its isGlob: m.glob says
				return false
			}
		} else if v != m.value {
			return false
		}
	}
	return true
}

// instance is a pending or firing alert.
type instance struct {
	Alert  apiv1.Alert
	Series string // series key, for matching on rule changes
	// ClearedAt is when a firing alert's condition cleared while
	// keep_firing_for or flap damping holds it.
	ClearedAt time.Time `json:",omitzero"`
	// LastSample is when its series last reported.
	LastSample time.Time `json:",omitzero"`
	key        uint64
}

// seenSeries is a series that matched a no_data: alert rule.
type seenSeries struct {
	rule   string
	metric string
	labels store.Labels
	last   time.Time
}

// HistoryLog keeps the transitions: a journal.Log, which the caller
// closes after the engine.
type HistoryLog interface {
	// Append writes records at once, all or none.
	Append(recs [][]byte) error
	// Newest gives the records from the last written back while fn
	// returns true.
	Newest(fn func(rec []byte) bool) error
	// DropBefore removes records written before cut, a file at a time.
	DropBefore(cut time.Time) (int, error)
}

var _ HistoryLog = (*journal.Log)(nil)

// Open loads rules, active alerts, silences and maintenance windows from kv,
// seeding the default rules when there are none yet. Transitions are
// recorded in hist.
func Open(kv store.KV, hist HistoryLog, log *slog.Logger) (*Engine, error) {
	e := &Engine{kv: kv, hist: hist, log: log, rules: map[string]*apiv1.Rule{}, active: map[uint64]*instance{}, activeOn: map[string]map[uint64]*instance{},
		flaps: map[uint64][]time.Time{}, seen: map[uint64]*seenSeries{}, silences: map[string]apiv1.Silence{},
		maint: map[string]*maintenance{}, flapCount: DefaultFlapCount, flapWindow: DefaultFlapWindow,
		tags: map[string][]string{}, matched: map[string]*hostMatches{}}
	var errs []error
	load := func(prefix byte, what string, fn func(v []byte) error) error {
		err := kv.Scan([]byte{prefix}, func(k, v []byte) bool {
			if err := fn(v); err != nil {
				errs = append(errs, fmt.Errorf("%s %q: %w", what, k[1:], err))
			}
			return true
		})
		if err != nil {
			return fmt.Errorf("load %ss: %w", what, err)
		}
		return nil
	}
	if err := load(store.PrefixRules, "rule", func(v []byte) error {
		var r apiv1.Rule
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		e.rules[r.ID] = &r
		return nil
	}); err != nil {
		return nil, err
	}
	if _, err := kv.Get([]byte{store.PrefixMeta, 'r'}); errors.Is(err, store.ErrNotFound) {
		for _, r := range DefaultRules() {
			if err := e.saveRule(r); err != nil {
				return nil, fmt.Errorf("seed rules: %w", err)
			}
			e.rules[r.ID] = &r
		}
		if err := kv.Put([]byte{store.PrefixMeta, 'r'}, []byte("seeded")); err != nil {
			return nil, fmt.Errorf("seed rules: %w", err)
		}
		log.Info("seeded default alert rules", "count", len(e.rules))
	}
	if err := load(store.PrefixAlertState, "alert", func(v []byte) error {
		var in instance
		if err := json.Unmarshal(v, &in); err != nil {
			return err
		}
		k, err := strconv.ParseUint(in.Alert.ID, 16, 64)
		if err != nil {
			return err
		}
		in.key = k
		if in.Alert.Escalated != "" && in.Alert.EscalationStep == 0 {
			in.Alert.EscalationStep = 1 // stored before chains: its one step is taken
		}
		e.active[k] = &in
		e.indexActive(&in)
		return nil
	}); err != nil {
		return nil, err
	}
	if err := load(store.PrefixSilences, "silence", func(v []byte) error {
		var s apiv1.Silence
		if err := json.Unmarshal(v, &s); err != nil {
			return err
		}
		e.silences[s.ID] = s
		return nil
	}); err != nil {
		return nil, err
	}
	if err := load(store.PrefixMaintenance, "maintenance window", func(v []byte) error {
		var m apiv1.Maintenance
		if err := json.Unmarshal(v, &m); err != nil {
			return err
		}
		mw, err := compileMaintenance(m)
		if err != nil {
			return err
		}
		e.maint[m.ID] = mw
		return nil
	}); err != nil {
		return nil, err
	}
	err := kv.Scan([]byte{store.PrefixRuleAudit}, func(k, _ []byte) bool {
		if len(k) == 17 {
			e.auditSeq = max(e.auditSeq, binary.BigEndian.Uint64(k[9:]))
		}
		return true
	})
	if err == nil {
		err = kv.Scan([]byte{store.PrefixAlertHistory}, func(_, _ []byte) bool {
			e.legacy.Store(true)
			return false
		})
	}
	if err != nil {
		return nil, fmt.Errorf("load the rules' audit: %w", err)
	}
	for _, err := range errs {
		log.Warn("skipped unreadable alert record", "err", err)
	}
	e.reindex()
	e.w = newWriter(kv, hist, log)
	return e, nil
}

// SetFlapDamping sets how many starts and ends of one alert within window
// make it flapping. count 0 turns damping off.
func (e *Engine) SetFlapDamping(count int, window time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.flapCount, e.flapWindow = count, window
	e.reindex()
}

// SetDefaultEscalation sets the escalation chain of rules that have none
// of their own. Its channels must be known (SetChannels first).
func (e *Engine) SetDefaultEscalation(steps []apiv1.EscalationStep) error {
	if err := ValidateEscalation("escalation", steps); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.knownChannels("escalation", steps); err != nil {
		return err
	}
	e.escalation = slices.Clone(steps)
	return nil
}

// SetHostTags records the tags in force on host, which rules match with
// "tag". The core calls it when an agent says hello and when an admin
// sets a host's tags. Active alerts on host of rules whose "tag" matcher
// no longer matches end at once (resolved, or back to inactive when
// pending), and those transitions are returned; new matches fire with the
// host's next samples.
func (e *Engine) SetHostTags(host string, tags []string) []apiv1.Transition {
	e.mu.Lock()
	defer e.mu.Unlock()
	if hm := e.matched[host]; hm != nil && !slices.Equal(e.tags[host], tags) {
		clear(hm.series)
	}
	if len(tags) == 0 {
		delete(e.tags, host)
	} else {
		e.tags[host] = slices.Clone(tags)
	}
	var out []apiv1.Transition
	now := time.Now()
	// Only the host's own alerts: an agent's hello comes here, and with
	// thousands of hosts reconnecting (or loading their tags at start)
	// a pass over every active alert each time was quadratic.
	for _, key := range slices.Sorted(maps.Keys(e.activeOn[host])) {
		in := e.active[key]
		r, ok := e.rules[in.Alert.RuleID]
		if !ok || matchesTag(tags, r.Match) {
			continue
		}
		from := stateOf(in.Alert.State)
		end := Resolved
		if from == Pending {
			end = Inactive
		}
		out = append(out, e.move(in, r, from, end, in.Alert.Value, now, ""))
	}
	return out
}

// flapping returns rule r's flap damping: how many flips within what
// window; count 0 means none.
func (e *Engine) flapping(r *apiv1.Rule) (int, time.Duration) {
	count, window := e.flapCount, e.flapWindow
	switch {
	case r.FlapCount < 0:
		return 0, window
	case r.FlapCount > 0:
		count = r.FlapCount
	}
	if r.FlapWindow > 0 {
		window = time.Duration(r.FlapWindow)
	}
	return count, window
}

// SetChannels names the notification channels rules may route to; a rule
// naming another is refused. nil accepts any name.
func (e *Engine) SetChannels(names []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.channels = slices.Clone(names)
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
		{ID: "check-failed", Name: "Check failed", Kind: apiv1.RuleCheckFailed, Metric: CheckUpMetric, Op: "==", For: m(1), Severity: apiv1.SeverityCritical, Enabled: true},
		{ID: "service-stopped", Name: "Windows service stopped", Kind: apiv1.RuleServiceStopped, Metric: ServiceRunningMetric, Op: "==", For: m(1), Severity: apiv1.SeverityCritical, Enabled: true},
	}
}

// Eval evaluates the rules against samples from host and returns the
// transitions they cause. Any sample from a host also resolves its
// agent-offline alerts. Each sample is checked only against the rules on
// its metric that can match its host; a sample with a Ref only against
// the rules its series matched on its first sample (see hostMatches).
func (e *Engine) Eval(host string, samples []store.Sample) []apiv1.Transition {
	defer e.w.room() // after the unlock: a full queue slows the caller, not the engine
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []apiv1.Transition
	if len(samples) > 0 {
		out = e.resolveOffline(host, time.UnixMilli(samples[len(samples)-1].T))
	}
	tags := e.tags[host]
	var hm *hostMatches
	for i := range samples {
		s := &samples[i]
		if s.Ref == (store.SeriesRef{}) {
			out = e.evalUncached(out, s, tags)
			continue
		}
		if hm == nil {
			hm = e.hostMatches(host)
		}
		sm, ok := hm.series[s.Ref]
		if !ok {
			sm = e.matchesOf(s, tags)
			hm.series[s.Ref] = sm
		}
		if sm == nil || !wire.Finite(s.V) {
			continue
		}
		for _, m := range sm.rules {
			lvl, thr := level(m.ir.r, s.V)
			if !m.ir.quiet(lvl) {
				out = e.step(out, m.ir, s, m.key, lvl, thr)
			}
		}
	}
	return out
}

// evalUncached evaluates sample s, which names no series by Ref, against
// the rules on its metric, matching each. The caller holds the lock.
func (e *Engine) evalUncached(out []apiv1.Transition, s *store.Sample, tags []string) []apiv1.Transition {
	mr := e.index[s.Metric]
	if mr == nil || !wire.Finite(s.V) {
		return out
	}
	try := func(ir *indexedRule) {
		if !ir.matches(s.Labels, tags) {
			return
		}
		lvl, thr := level(ir.r, s.V)
		if !ir.quiet(lvl) {
			out = e.step(out, ir, s, seriesAlertKey(ir.r.ID, s.Metric, s.Labels), lvl, thr)
		}
	}
	if len(mr.byHost) > 0 {
		for _, ir := range mr.byHost[s.Labels.Get("host")] {
			try(ir)
		}
	}
	for _, ir := range mr.any {
		try(ir)
	}
	return out
}

// hostMatches returns host's match cache, cleared if the rules changed
// since it was filled. The caller holds the lock.
func (e *Engine) hostMatches(host string) *hostMatches {
	hm := e.matched[host]
	switch {
	case hm == nil:
		hm = &hostMatches{gen: e.matchGen, series: map[store.SeriesRef]*seriesMatch{}}
		e.matched[host] = hm
	case hm.gen != e.matchGen:
		clear(hm.series)
		hm.gen = e.matchGen
	}
	return hm
}

// matchesOf finds the rules that sample s's series matches, with the
// host's tags: nil when none does. The caller holds the lock.
func (e *Engine) matchesOf(s *store.Sample, tags []string) *seriesMatch {
	mr := e.index[s.Metric]
	if mr == nil {
		return nil
	}
	buf := e.matchBuf[:0]
	add := func(ir *indexedRule) {
		if ir.matches(s.Labels, tags) {
			buf = append(buf, ruleMatch{ir: ir, key: seriesAlertKey(ir.r.ID, s.Metric, s.Labels)})
		}
	}
	if len(mr.byHost) > 0 {
		for _, ir := range mr.byHost[s.Labels.Get("host")] {
			add(ir)
		}
	}
	for _, ir := range mr.any {
		add(ir)
	}
	e.matchBuf = buf[:0]
	if len(buf) == 0 {
		return nil
	}
	return &seriesMatch{rules: slices.Clone(buf)}
}

// quiet reports whether a sample of a series that ir matches, meeting ir
// at level lvl, can be passed over: it meets no threshold, ir has no
// active alert to move, and ir does not watch for the series going
// silent.
func (ir *indexedRule) quiet(lvl string) bool {
	return lvl == "" && ir.active == 0 && ir.r.NoData != NoDataAlert
}

// step moves the alert of rule ir on sample s's series, whose matchers s
// satisfies, appending any transition to out. key is the alert's key
// (seriesAlertKey), lvl and thr what level(ir.r, s.V) says. The caller
// holds the lock.
func (e *Engine) step(out []apiv1.Transition, ir *indexedRule, s *store.Sample, key uint64, lvl string, thr float64) []apiv1.Transition {
	r := ir.r
	at := time.UnixMilli(s.T)
	if r.NoData == NoDataAlert {
		if ss := e.seen[key]; ss != nil {
			ss.last = at
		} else {
			e.seen[key] = &seenSeries{rule: r.ID, metric: s.Metric, labels: slices.Clone(s.Labels), last: at}
		}
	}
	in := e.active[key]
	if in == nil {
		if lvl == "" {
			return out
		}
		in = e.newInstance(r, key, s.Metric, s.Labels, at)
		in.LastSample = at
		in.Alert.Severity, in.Alert.Threshold = lvl, thr
		if r.For <= 0 {
			return append(out, e.fire(in, r, Inactive, s.V, at, ""))
		}
		return append(out, e.move(in, r, Inactive, Pending, s.V, at, ""))
	}
	in.LastSample = at
	a := &in.Alert
	switch a.State {
	case apiv1.StatePending:
		if lvl == "" {
			return append(out, e.move(in, r, Pending, Inactive, s.V, at, ""))
		}
		a.Severity, a.Threshold, a.Value = lvl, thr, s.V
		if at.Sub(a.ActiveAt) >= time.Duration(r.For) {
			return append(out, e.fire(in, r, Pending, s.V, at, ""))
		}
		return out
	case apiv1.StateFiring:
		if held(r, s.V) {
			in.ClearedAt = time.Time{}
			if lvl != "" && lvl != a.Severity && !a.Flapping {
				a.Severity, a.Threshold = lvl, thr
				return append(out, e.move(in, r, Firing, Firing, s.V, at, ReasonSeverity))
			}
			a.Value = s.V
			return out
		}
		return e.clearing(out, in, r, s.V, at)
	}
	return out
}

// clearing handles a firing alert whose condition is clear: held by
// keep_firing_for or flap damping, marked flapping, or resolved.
func (e *Engine) clearing(out []apiv1.Transition, in *instance, r *apiv1.Rule, v float64, at time.Time) []apiv1.Transition {
	a := &in.Alert
	a.Value = v
	if in.ClearedAt.IsZero() {
		in.ClearedAt = at
	}
	count, window := e.flapping(r)
	hold := time.Duration(r.KeepFiringFor)
	if a.Flapping {
		hold = max(hold, window)
	}
	if at.Sub(in.ClearedAt) < hold {
		return out
	}
	if !a.Flapping && count > 0 && e.flipsWithin(in.key, at, window)+1 > count {
		a.Flapping = true
		in.ClearedAt = at
		return append(out, e.move(in, r, Firing, Firing, v, at, ReasonFlapping))
	}
	return append(out, e.move(in, r, Firing, Resolved, v, at, ""))
}

// flipsWithin counts the recent starts and ends of alert key, forgetting
// those older than the flap window. The caller holds the lock.
func (e *Engine) flipsWithin(key uint64, at time.Time, window time.Duration) int {
	fs := e.flaps[key]
	i := 0
	for i < len(fs) && at.Sub(fs[i]) > window {
		i++
	}
	fs = fs[i:]
	if len(fs) == 0 {
		delete(e.flaps, key)
	} else {
		e.flaps[key] = fs
	}
	return len(fs)
}

func (e *Engine) newInstance(r *apiv1.Rule, key uint64, metric string, ls store.Labels, at time.Time) *instance {
	in := &instance{key: key, Series: store.SeriesKey(metric, ls), Alert: apiv1.Alert{
		ID: strconv.FormatUint(key, 16), RuleID: r.ID, RuleName: r.Name, Host: ls.Get("host"),
		Metric: metric, Labels: ls.Map(), Severity: r.Severity, Op: r.Op, Threshold: r.Threshold,
		ActiveAt: at, Channels: slices.Clone(r.Channels),
	}}
	e.addActive(in)
	return in
}

// fire moves an alert to firing and counts the flip.
func (e *Engine) fire(in *instance, r *apiv1.Rule, from State, v float64, at time.Time, reason string) apiv1.Transition {
	e.flip(in.key, r, at)
	return e.move(in, r, from, Firing, v, at, reason)
}

// flip records a start or end of alert key of rule r for flap damping.
// The caller holds the lock.
func (e *Engine) flip(key uint64, r *apiv1.Rule, at time.Time) {
	if count, window := e.flapping(r); count > 0 {
		e.flipsWithin(key, at, window)
		e.flaps[key] = append(e.flaps[key], at)
	}
}

// move applies one transition, queues it for the history and the alert's
// new state for the store (persist.go) and returns it. The caller holds the
// lock.
func (e *Engine) move(in *instance, r *apiv1.Rule, from, to State, v float64, at time.Time, reason string) apiv1.Transition {
	a := &in.Alert
	a.State = to.String()
	a.Value = v
	a.RuleName, a.Op, a.Channels = r.Name, r.Op, slices.Clone(r.Channels)
	switch {
	case to == Firing && from != Firing:
		a.FiredAt = at
	case to == Resolved:
		a.ResolvedAt = at
		e.flip(in.key, r, at)
		if a.Flapping {
			delete(e.flaps, in.key)
		}
	}
	a.Silenced = e.mutedBy(a, at)
	a.Summary = summary(r, a)
	t := apiv1.Transition{Alert: *a, From: from.String(), To: to.String(), At: at, Value: v,
		Threshold: a.Threshold, Reason: reason, Muted: a.Silenced != ""}
	if reason == ReasonEscalation {
		t.Escalated = a.Escalated
		if steps := e.chain(r); a.EscalationStep > 0 && a.EscalationStep <= len(steps) {
			t.EscalateTo = slices.Clone(steps[a.EscalationStep-1].Channels)
		}
	}
	if routed(t) && !t.Muted {
		a.NotifiedAt = at
		t.Alert.NotifiedAt = at
	}
	t.Alert.Labels = maps.Clone(a.Labels)
	t.Alert.Channels = slices.Clone(a.Channels)
	if a.Ack != nil {
		ack := *a.Ack
		t.Alert.Ack = &ack
	}
	if to == Resolved || to == Inactive {
		e.removeActive(in)
		e.w.state(append([]byte{store.PrefixAlertState}, a.ID...), nil)
	} else {
		e.saveInstance(in)
	}
	e.record(t)
	e.log.Log(context.Background(), transitionLevel(from, to), "alert", "rule", r.Name, "host", a.Host, "from", t.From, "to", t.To, "reason", reason, "value", v, "severity", a.Severity, "muted", t.Muted)
	return t
}

// transitionLevel is the log level of a transition from one state to
// another: going pending and back is a value crossing a threshold for
// less than the rule's `for`, which a fleet does hundreds of times a
// second (10,000 simulated agents, 2,000 rules: 204 lines a second, 37
// KB/s, 3 GB of log a day, 93 % of the engine's lines), and is kept for
// debugging; firing, resolving and escalating are what an
// operator reads the log for.
func transitionLevel(from, to State) slog.Level {
	if from <= Pending && to <= Pending {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// addActive and removeActive keep the active alerts and their count per
// rule. The caller holds the lock.
func (e *Engine) addActive(in *instance) {
	e.active[in.key] = in
	e.indexActive(in)
	if ir := e.compiled[in.Alert.RuleID]; ir != nil {
		ir.active++
	}
}

func (e *Engine) removeActive(in *instance) {
	if e.active[in.key] != in {
		return
	}
	delete(e.active, in.key)
	if on := e.activeOn[in.Alert.Host]; on != nil {
		delete(on, in.key)
		if len(on) == 0 {
			delete(e.activeOn, in.Alert.Host)
		}
	}
	if ir := e.compiled[in.Alert.RuleID]; ir != nil && ir.active > 0 {
		ir.active--
	}
}

// indexActive files an active alert under its host. The caller holds the
// lock.
func (e *Engine) indexActive(in *instance) {
	on := e.activeOn[in.Alert.Host]
	if on == nil {
		on = map[uint64]*instance{}
		e.activeOn[in.Alert.Host] = on
	}
	on[in.key] = in
}

// routed mirrors notify.Routed: which transitions are news for channels.
func routed(t apiv1.Transition) bool {
	return (t.To == apiv1.StateFiring || t.To == apiv1.StateResolved) &&
		t.Reason != ReasonAcknowledged && t.Reason != ReasonUnacknowledged
}

// saveInstance queues the alert's state as of now. The caller holds the
// lock.
func (e *Engine) saveInstance(in *instance) {
	b, err := json.Marshal(in)
	if err != nil {
		e.log.Error("encode alert state", "alert", in.Alert.ID, "err", err)
		return
	}
	e.w.state(append([]byte{store.PrefixAlertState}, in.Alert.ID...), b)
}

// record queues t for the history, with its own copy of what the caller
// may still change. The caller holds the lock.
func (e *Engine) record(t apiv1.Transition) {
	t.Alert.Labels = maps.Clone(t.Alert.Labels)
	t.Alert.Channels = slices.Clone(t.Alert.Channels)
	t.EscalateTo = slices.Clone(t.EscalateTo)
	if t.Alert.Ack != nil {
		ack := *t.Alert.Ack
		t.Alert.Ack = &ack
	}
	e.w.history(t)
}

func timeKey(prefix byte, at time.Time, seq uint64) []byte {
	k := make([]byte, 17)
	k[0] = prefix
	binary.BigEndian.PutUint64(k[1:], uint64(at.UnixNano()))
	binary.BigEndian.PutUint64(k[9:], seq)
	return k
}

// Up tells the engine when the core started serving. A host's silence is
// counted from then at the earliest: while the core was down no host could
// report, and after a restart each needs the time to reconnect. An alert
// that was firing before the restart stays firing.
func (e *Engine) Up(at time.Time) {
	e.mu.Lock()
	e.up = at
	e.mu.Unlock()
}

// OfflineAfter is the shortest silence an enabled agent-offline rule
// fires on; ok is false when no such rule is enabled. A host seen since
// is none of EvalOffline's business.
func (e *Engine) OfflineAfter() (after time.Duration, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.offline {
		if r.Enabled && (!ok || time.Duration(r.For) < after) {
			after, ok = time.Duration(r.For), true
		}
	}
	return after, ok
}

// EvalOffline fires agent-offline alerts for hosts silent longer than a
// rule's For, as of now, counted from the core's start at the earliest
// (see Up).
func (e *Engine) EvalOffline(hosts []apiv1.Host, now time.Time) []apiv1.Transition {
	defer e.w.room()
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []apiv1.Transition
	for _, r := range e.offline {
		if !r.Enabled {
			continue
		}
		for _, h := range hosts {
			if h.LastSeen.IsZero() || !matchesHost(h.ID, r.Match) || !matchesTag(h.Tags, r.Match) {
				continue
			}
			silent := now.Sub(h.LastSeen)
			key := stringAlertKey(r.ID, h.ID)
			if now.Sub(later(h.LastSeen, e.up)) < time.Duration(r.For) || e.active[key] != nil {
				continue
			}
			in := &instance{key: key, Alert: apiv1.Alert{
				ID: strconv.FormatUint(key, 16), RuleID: r.ID, RuleName: r.Name, Host: h.ID,
				Labels: map[string]string{"host": h.ID}, ActiveAt: h.LastSeen, Severity: r.Severity,
				Threshold: time.Duration(r.For).Seconds(), Op: ">",
			}}
			e.addActive(in)
			out = append(out, e.fire(in, r, Inactive, silent.Seconds(), now, ""))
		}
	}
	return out
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// resolveOffline resolves the agent-offline alerts of host. The caller holds
// the lock.
func (e *Engine) resolveOffline(host string, at time.Time) []apiv1.Transition {
	var out []apiv1.Transition
	for _, r := range e.offline {
		if in := e.active[stringAlertKey(r.ID, host)]; in != nil {
			out = append(out, e.move(in, r, Firing, Resolved, at.Sub(in.Alert.ActiveAt).Seconds(), at, ""))
		}
	}
	return out
}

// Active returns the pending and firing alerts, most severe first.
func (e *Engine) Active() []apiv1.Alert {
	e.mu.Lock()
	out := make([]apiv1.Alert, 0, len(e.active))
	now := time.Now()
	for _, in := range e.active {
		out = append(out, e.view(in, now))
	}
	e.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		ri, rj := apiv1.SeverityRank(out[i].Severity), apiv1.SeverityRank(out[j].Severity)
		if ri != rj {
			return ri > rj
		}
		if !out[i].ActiveAt.Equal(out[j].ActiveAt) {
			return out[i].ActiveAt.Before(out[j].ActiveAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// ActiveCount is the number of pending and firing alerts: len(Active())
// without copying them. /metrics reads it at every scrape, and a copy of
// 5,000 alerts held the lock every batch's evaluation takes.
func (e *Engine) ActiveCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.active)
}

// view is a copy of an active alert as of now. The caller holds the lock.
func (e *Engine) view(in *instance, now time.Time) apiv1.Alert {
	a := in.Alert
	a.Labels = maps.Clone(a.Labels)
	a.Channels = slices.Clone(a.Channels)
	if a.Ack != nil {
		ack := *a.Ack
		a.Ack = &ack
	}
	a.Silenced = e.mutedBy(&a, now)
	return a
}

// Alert returns one active alert.
func (e *Engine) Alert(id string) (apiv1.Alert, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	in := e.byID(id)
	if in == nil {
		return apiv1.Alert{}, false
	}
	return e.view(in, time.Now()), true
}

func (e *Engine) byID(id string) *instance {
	k, err := strconv.ParseUint(id, 16, 64)
	if err != nil {
		return nil
	}
	return e.active[k]
}

// WorstOn returns the worst severity among host's firing alerts, "" when
// none fires. It looks at that host's alerts only (the by-host index), so
// the ingest of a batch with transitions costs the same whatever the
// number of alerts active elsewhere.
func (e *Engine) WorstOn(host string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	w := ""
	for _, in := range e.activeOn[host] {
		a := in.Alert
		if a.State == apiv1.StateFiring && apiv1.SeverityRank(a.Severity) > apiv1.SeverityRank(w) {
			w = a.Severity
		}
	}
	return w
}

// History returns up to limit transitions (all when limit is 0), the
// last recorded first, including every transition made before the call
// (it waits for their commit).
func (e *Engine) History(limit int) ([]apiv1.Transition, error) {
	if err := e.w.flush(); err != nil {
		e.log.Warn("alert history may miss transitions", "err", err)
	}
	var all []apiv1.Transition
	full := func() bool { return limit > 0 && len(all) >= limit }
	err := e.hist.Newest(func(rec []byte) bool {
		var t apiv1.Transition
		if err := json.Unmarshal(rec, &t); err != nil {
			e.log.Warn("skipped unreadable alert history record", "err", err)
			return true
		}
		all = append(all, t)
		return !full()
	})
	if err != nil || full() || !e.legacy.Load() {
		return all, err
	}
	// Records of earlier versions, older than the journal's, in time order.
	var old []apiv1.Transition
	err = e.kv.Scan([]byte{store.PrefixAlertHistory}, func(_, v []byte) bool {
		var t apiv1.Transition
		if json.Unmarshal(v, &t) == nil {
			old = append(old, t)
		}
		return true
	})
	slices.Reverse(old)
	all = append(all, old...)
	if limit > 0 && len(all) > limit {
		all = all[:limit]
	}
	return all, err
}

// DropHistoryBefore removes the history recorded before cut: the
// journal's files of days that ended by then, and records of earlier
// versions (kept in the store) of transitions before it.
func (e *Engine) DropHistoryBefore(cut time.Time) error {
	n, err := e.hist.DropBefore(cut)
	if n > 0 {
		e.log.Info("alert history: removed days past retention", "files", n)
	}
	if !e.legacy.Load() {
		return err
	}
	var keys [][]byte
	left := false
	serr := e.kv.Scan([]byte{store.PrefixAlertHistory}, func(k, _ []byte) bool {
		if len(k) == 17 && int64(binary.BigEndian.Uint64(k[1:])) < cut.UnixNano() {
			keys = append(keys, slices.Clone(k))
			return true
		}
		left = true
		return false
	})
	for len(keys) > 0 && serr == nil {
		batch := keys[:min(len(keys), 4096)]
		keys = keys[len(batch):]
		if pb, ok := e.kv.(putBatcher); ok {
			serr = pb.PutBatch(batch, make([][]byte, len(batch)))
			continue
		}
		for _, k := range batch {
			serr = errors.Join(serr, e.kv.Delete(k))
		}
	}
	if serr == nil && !left {
		e.legacy.Store(false)
	}
	return errors.Join(err, serr)
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

// matches reports whether a series' labels and its host's tags satisfy
// match.
func matches(ls store.Labels, tags []string, match map[string]string) bool {
	for k, v := range match {
		if k == TagMatcher {
			if !hasTag(tags, v) {
				return false
			}
			continue
		}
		if !matchValue(v, ls.Get(k)) {
			return false
		}
	}
	return true
}

func matchesHost(host string, match map[string]string) bool {
	v, ok := match["host"]
	return !ok || matchValue(v, host)
}

// matchesTag reports whether tags satisfy the "tag" matcher, if any.
func matchesTag(tags []string, match map[string]string) bool {
	v, ok := match[TagMatcher]
	return !ok || hasTag(tags, v)
}

func labelsOf(m map[string]string) store.Labels {
	ls := make(store.Labels, 0, len(m))
	for k, v := range m {
		ls = append(ls, store.Label{Name: k, Value: v})
	}
	ls.Sort()
	return ls
}

// FNV-1a, 64 bit, written out so that a key is hashed without building
// the series key as a string.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

func fnvByte(h uint64, b byte) uint64 {
	h ^= uint64(b)
	return h * fnvPrime
}

// stringAlertKey is the key of rule's alert on series (a host for the
// agent-offline rule): FNV-1a of rule, a zero byte and series.
func stringAlertKey(rule, series string) uint64 {
	return fnvString(fnvByte(fnvString(fnvOffset, rule), 0), series)
}

// seriesAlertKey is stringAlertKey(rule, store.SeriesKey(metric, ls))
// without the allocations.
func seriesAlertKey(rule, metric string, ls store.Labels) uint64 {
	h := fnvByte(fnvString(fnvOffset, rule), 0)
	h = fnvString(h, metric)
	if len(ls) == 0 {
		return h
	}
	h = fnvByte(h, '{')
	for i, l := range ls {
		if i > 0 {
			h = fnvByte(h, ',')
		}
		h = fnvString(h, l.Name)
		h = fnvString(h, `="`)
		for j := 0; j < len(l.Value); j++ {
			c := l.Value[j]
			if c == '\\' || c == '"' {
				h = fnvByte(h, '\\')
			}
			h = fnvByte(h, c)
		}
		h = fnvByte(h, '"')
	}
	return fnvByte(h, '}')
}

func summary(r *apiv1.Rule, a *apiv1.Alert) string {
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
	s := apiv1.PlainSummary(r.Name, a.Host, what, a.Value, r.Op, a.Threshold)
	if r.Summary != "" {
		s = r.Summary + " — " + s
	}
	return s
}
