package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"esmon/core/apiv1"
	"esmon/internal/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// result is what a fakeChannel answers to one Notify call.
type result struct {
	delivered int // transitions taken before err, for a *PartialError
	retry     bool
	err       error
}

// fakeChannel records what it is sent and answers from a script; once the
// script runs out every call succeeds.
type fakeChannel struct {
	name string
	// entered, when set, gets a signal as each call starts.
	entered chan struct{}
	// release, when set, holds each call until it is closed or ctx ends.
	release chan struct{}

	mu     sync.Mutex // guards the fields below
	script []result
	calls  int
	got    []apiv1.Transition
}

func (f *fakeChannel) Name() string { return f.name }

func (f *fakeChannel) Notify(ctx context.Context, ts ...apiv1.Transition) (bool, error) {
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if f.release != nil {
		select {
		case <-f.release:
		case <-ctx.Done():
			return true, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if len(f.script) == 0 {
		f.got = append(f.got, ts...)
		return false, nil
	}
	r := f.script[0]
	f.script = f.script[1:]
	f.got = append(f.got, ts[:r.delivered]...)
	if r.delivered > 0 {
		return r.retry, &PartialError{Delivered: r.delivered, Err: r.err}
	}
	return r.retry, r.err
}

func (f *fakeChannel) ids() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, t := range f.got {
		ids = append(ids, t.Alert.ID)
	}
	return ids
}

func (f *fakeChannel) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func transition(id, severity, to string) apiv1.Transition {
	from := apiv1.StatePending
	if to == apiv1.StateResolved {
		from = apiv1.StateFiring
	}
	return apiv1.Transition{
		Alert: apiv1.Alert{ID: id, RuleName: "High CPU", Host: "host-a", Metric: "cpu_percent", Severity: severity, State: to, Value: 97, Op: ">", Threshold: 90},
		From:  from,
		To:    to,
		At:    time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		Value: 97,
	}
}

func firing(n int, severity string) []apiv1.Transition {
	var ts []apiv1.Transition
	for i := range n {
		ts = append(ts, transition(fmt.Sprintf("a%d", i), severity, apiv1.StateFiring))
	}
	return ts
}

// sleeps records the backoff waits instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.d)
}

func newTestRouter(t *testing.T, routes []Route, opts Options) (*Router, *prometheus.Registry, *testenv.Buffer) {
	t.Helper()
	reg := prometheus.NewRegistry()
	logs := &testenv.Buffer{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	r, err := NewRouter(routes, reg, opts)
	if err != nil {
		t.Fatalf("NewRouter: %v", err)
	}
	t.Cleanup(func() { _ = r.Stop(context.Background()) })
	return r, reg, logs
}

func stop(t *testing.T, r *Router) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

// counter reads esmon_notify_notifications_total for channel and outcome.
func counter(t *testing.T, reg *prometheus.Registry, channel, outcome string) float64 {
	t.Helper()
	return gather(t, reg, "esmon_notify_notifications_total", map[string]string{"channel": channel, "outcome": outcome})
}

func gather(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue metrics
				}
			}
			if m.Counter != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s%v", name, labels)
	return 0
}

func TestRouterRoutesBySeverity(t *testing.T) {
	all := &fakeChannel{name: "log"}
	console := &fakeChannel{name: "console"}
	email := &fakeChannel{name: "email"}
	r, _, _ := newTestRouter(t, []Route{
		{Channel: all},
		{Channel: console, MinSeverity: apiv1.SeverityCritical},
		{Channel: email, MinSeverity: apiv1.SeverityVeryCritical},
	}, Options{})

	r.Send(
		transition("info", apiv1.SeverityInfo, apiv1.StateFiring),
		transition("warn", apiv1.SeverityWarning, apiv1.StateFiring),
		transition("crit", apiv1.SeverityCritical, apiv1.StateFiring),
		transition("vcrit", apiv1.SeverityVeryCritical, apiv1.StateFiring),
		transition("vcrit-pending", apiv1.SeverityVeryCritical, apiv1.StatePending),
		transition("vcrit-resolved", apiv1.SeverityVeryCritical, apiv1.StateResolved),
		transition("unknown", "bogus", apiv1.StateFiring),
	)
	stop(t, r)

	tests := []struct {
		ch   *fakeChannel
		want []string
	}{
		{all, []string{"info", "warn", "crit", "vcrit", "vcrit-resolved", "unknown"}},
		{console, []string{"crit", "vcrit", "vcrit-resolved"}},
		{email, []string{"vcrit", "vcrit-resolved"}},
	}
	for _, tt := range tests {
		t.Run(tt.ch.name, func(t *testing.T) {
			if got := tt.ch.ids(); !slices.Equal(got, tt.want) {
				t.Errorf("%s got %v, want %v", tt.ch.name, got, tt.want)
			}
		})
	}
}

func TestRouterRetries(t *testing.T) {
	temp := errors.New("421 try later")
	tests := []struct {
		name        string
		script      []result
		maxAttempts int
		wantIDs     []string // what the channel took, in order
		wantCalls   int
		wantWaits   []time.Duration
		wantCounts  map[string]float64
		wantLog     string
	}{
		{
			name:       "temporary errors then success sends once",
			script:     []result{{retry: true, err: temp}, {retry: true, err: temp}, {retry: true, err: temp}},
			wantIDs:    []string{"a0", "a1"},
			wantCalls:  4,
			wantWaits:  []time.Duration{time.Second, 2 * time.Second, 4 * time.Second},
			wantCounts: map[string]float64{OutcomeSent: 2, OutcomeRetried: 6, OutcomeFailed: 0, OutcomeDropped: 0},
			wantLog:    "will retry",
		},
		{
			name:       "permanent error gives up at once",
			script:     []result{{retry: false, err: errors.New("550 mailbox unavailable")}},
			wantCalls:  1,
			wantCounts: map[string]float64{OutcomeSent: 0, OutcomeRetried: 0, OutcomeFailed: 2},
			wantLog:    "550 mailbox unavailable",
		},
		{
			name:        "temporary errors give up after MaxAttempts",
			script:      []result{{retry: true, err: temp}, {retry: true, err: temp}, {retry: true, err: temp}},
			maxAttempts: 3,
			wantCalls:   3,
			wantWaits:   []time.Duration{time.Second, 2 * time.Second},
			wantCounts:  map[string]float64{OutcomeSent: 0, OutcomeRetried: 4, OutcomeFailed: 2},
			wantLog:     "giving up",
		},
		{
			name:       "partial delivery is not sent again",
			script:     []result{{delivered: 1, retry: true, err: temp}},
			wantIDs:    []string{"a0", "a1"},
			wantCalls:  2,
			wantWaits:  []time.Duration{time.Second},
			wantCounts: map[string]float64{OutcomeSent: 2, OutcomeRetried: 1, OutcomeFailed: 0},
		},
		{
			name:       "partial delivery then permanent error",
			script:     []result{{delivered: 1, retry: false, err: errors.New("554 rejected")}},
			wantIDs:    []string{"a0"},
			wantCalls:  1,
			wantCounts: map[string]float64{OutcomeSent: 1, OutcomeFailed: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := &fakeChannel{name: "email", script: tt.script}
			sl := &sleeps{}
			r, reg, logs := newTestRouter(t, []Route{{Channel: ch}}, Options{
				MinBackoff:  time.Second,
				MaxBackoff:  time.Minute,
				MaxAttempts: tt.maxAttempts,
				Sleep:       sl.sleep,
			})
			r.Send(firing(2, apiv1.SeverityVeryCritical)...)
			stop(t, r)

			if got := ch.ids(); !slices.Equal(got, tt.wantIDs) {
				t.Errorf("channel took %v, want %v", got, tt.wantIDs)
			}
			if got := ch.callCount(); got != tt.wantCalls {
				t.Errorf("Notify called %d times, want %d", got, tt.wantCalls)
			}
			if got := sl.waits(); !slices.Equal(got, tt.wantWaits) {
				t.Errorf("backoff waits %v, want %v", got, tt.wantWaits)
			}
			for outcome, want := range tt.wantCounts {
				if got := counter(t, reg, "email", outcome); got != want {
					t.Errorf("%s = %v, want %v", outcome, got, want)
				}
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, logs)
			}
		})
	}
}

func TestRouterBackoffIsCapped(t *testing.T) {
	r := &Router{opts: Options{MinBackoff: time.Second, MaxBackoff: 10 * time.Second}}
	var got []time.Duration
	for attempt := 1; attempt <= 6; attempt++ {
		got = append(got, r.backoff(attempt))
	}
	want := []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("backoff %v, want %v", got, want)
	}
	if d := r.backoff(1000); d != 10*time.Second {
		t.Errorf("backoff(1000) = %v, want the cap", d)
	}
}

func TestRouterQueueOverflowDropsOldest(t *testing.T) {
	ch := &fakeChannel{name: "slow", entered: make(chan struct{}, 10), release: make(chan struct{})}
	r, reg, logs := newTestRouter(t, []Route{{Channel: ch}}, Options{QueueSize: 2})

	ts := firing(6, apiv1.SeverityWarning)
	r.Send(ts[0])
	<-ch.entered // a0 is in flight, the queue is empty
	r.Send(ts[1:]...)
	if got := gather(t, reg, "esmon_notify_queue_length", map[string]string{"channel": "slow"}); got != 2 {
		t.Errorf("queue length %v, want 2", got)
	}
	close(ch.release)
	stop(t, r)

	if got, want := ch.ids(), []string{"a0", "a4", "a5"}; !slices.Equal(got, want) {
		t.Errorf("channel took %v, want %v", got, want)
	}
	if got := counter(t, reg, "slow", OutcomeDropped); got != 3 {
		t.Errorf("dropped = %v, want 3", got)
	}
	if got := counter(t, reg, "slow", OutcomeSent); got != 3 {
		t.Errorf("sent = %v, want 3", got)
	}
	if got := gather(t, reg, "esmon_notify_queue_length", map[string]string{"channel": "slow"}); got != 0 {
		t.Errorf("queue length after drain %v, want 0", got)
	}
	if !strings.Contains(logs.String(), "queue full") {
		t.Errorf("no log line for the overflow:\n%s", logs)
	}
}

func TestRouterStopDrains(t *testing.T) {
	ch := &fakeChannel{name: "email", entered: make(chan struct{}, 100), release: make(chan struct{})}
	fast := &fakeChannel{name: "log"}
	r, reg, _ := newTestRouter(t, []Route{{Channel: ch}, {Channel: fast}}, Options{BatchSize: 3})

	r.Send(firing(10, apiv1.SeverityCritical)...)
	<-ch.entered
	stopped := make(chan error, 1)
	go func() { stopped <- r.Stop(context.Background()) }()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while a delivery was held", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(ch.release)
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}

	want := []string{"a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"}
	for _, c := range []*fakeChannel{ch, fast} {
		if got := c.ids(); !slices.Equal(got, want) {
			t.Errorf("%s took %v, want %v", c.name, got, want)
		}
	}
	if got := ch.callCount(); got != 4 {
		t.Errorf("email called %d times for 10 transitions in batches of 3, want 4", got)
	}

	r.Send(firing(1, apiv1.SeverityCritical)...)
	if got := counter(t, reg, "email", OutcomeDropped); got != 1 {
		t.Errorf("dropped after Stop = %v, want 1", got)
	}
	if err := r.Stop(context.Background()); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestRouterStopDeadline(t *testing.T) {
	// A channel that is down for good, with a backoff far longer than the
	// deadline: Stop must give up on it rather than wait.
	down := &fakeChannel{name: "teams", script: slices.Repeat([]result{{retry: true, err: errors.New("connection refused")}}, 100)}
	r, reg, logs := newTestRouter(t, []Route{{Channel: down}}, Options{MinBackoff: time.Hour, BatchSize: 2})

	r.Send(firing(5, apiv1.SeverityCritical)...)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := r.Stop(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Stop took %v", d)
	}
	if got := counter(t, reg, "teams", OutcomeDropped); got != 5 {
		t.Errorf("dropped = %v, want 5", got)
	}
	if got := counter(t, reg, "teams", OutcomeSent); got != 0 {
		t.Errorf("sent = %v, want 0", got)
	}
	if !strings.Contains(logs.String(), "router stopped") {
		t.Errorf("no log line for the dropped transitions:\n%s", logs)
	}
}

func TestNewRouterRejectsBadRoutes(t *testing.T) {
	a := &fakeChannel{name: "email"}
	tests := []struct {
		name   string
		routes []Route
		want   string
	}{
		{"no channel", []Route{{}}, "no channel"},
		{"unknown severity", []Route{{Channel: a, MinSeverity: "urgent"}}, `unknown severity "urgent"`},
		{"channel twice", []Route{{Channel: a}, {Channel: &fakeChannel{name: "email"}, MinSeverity: apiv1.SeverityCritical}}, `"email" is routed twice`},
		{"no name", []Route{{Channel: &fakeChannel{}}}, "no name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRouter(tt.routes, nil, Options{})
			if err == nil {
				_ = r.Stop(context.Background())
				t.Fatal("NewRouter accepted the routes")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

func TestNewRouterMetricsRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	r1, err := NewRouter(nil, reg, Options{})
	if err != nil {
		t.Fatalf("first router: %v", err)
	}
	defer func() { _ = r1.Stop(context.Background()) }()
	if r2, err := NewRouter(nil, reg, Options{}); err == nil {
		_ = r2.Stop(context.Background())
		t.Error("second router registered the same metrics")
	}
	r3, err := NewRouter([]Route{{Channel: &fakeChannel{name: "x"}}}, nil, Options{})
	if err != nil {
		t.Fatalf("router without registry: %v", err)
	}
	stop(t, r3)
}

func TestFunc(t *testing.T) {
	var got []string
	ok := Func("console", func(t apiv1.Transition) { got = append(got, t.Alert.ID) })
	if ok.Name() != "console" {
		t.Errorf("Name = %q", ok.Name())
	}
	if retry, err := ok.Notify(context.Background(), firing(2, apiv1.SeverityInfo)...); retry || err != nil {
		t.Fatalf("Notify = %v, %v", retry, err)
	}
	if !slices.Equal(got, []string{"a0", "a1"}) {
		t.Errorf("fn saw %v", got)
	}

	calls := 0
	bad := Func("console", func(apiv1.Transition) {
		calls++
		if calls == 2 {
			panic("toast failed")
		}
	})
	retry, err := bad.Notify(context.Background(), firing(3, apiv1.SeverityInfo)...)
	var pe *PartialError
	if retry || !errors.As(err, &pe) || pe.Delivered != 1 || !strings.Contains(err.Error(), "toast failed") {
		t.Errorf("after a panic Notify = %v, %v; want no retry and a PartialError after 1", retry, err)
	}
}

func TestLogChannel(t *testing.T) {
	var buf bytes.Buffer
	ch := NewLog(slog.New(slog.NewJSONHandler(&buf, nil)))
	tr := transition("a1", apiv1.SeverityCritical, apiv1.StateFiring)
	tr.Alert.Labels = map[string]string{"mount": "/var"}
	tr.Alert.Summary = "High CPU on host-a"
	if retry, err := ch.Notify(context.Background(), tr, transition("a2", apiv1.SeverityCritical, apiv1.StateResolved)); retry || err != nil {
		t.Fatalf("Notify = %v, %v", retry, err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 records, got:\n%s", buf.String())
	}
	for _, want := range []string{`"level":"WARN"`, `"msg":"alert firing: High CPU on host-a"`, `"host":"host-a"`, `"severity":"critical"`, `"value":97`, `"labels":{"mount":"/var"}`} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("firing record lacks %s:\n%s", want, lines[0])
		}
	}
	if !strings.Contains(lines[1], `"level":"INFO"`) || !strings.Contains(lines[1], `"to":"resolved"`) {
		t.Errorf("resolved record: %s", lines[1])
	}
}
