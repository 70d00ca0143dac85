package collect

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/sensors"
	"go.uber.org/goleak"

	"esmon/core/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeProcs gives one process list per call; the last repeats.
type fakeProcs struct {
	scans [][]ProcessInfo
	calls int
}

func (f *fakeProcs) Processes(context.Context) ([]ProcessInfo, error) {
	i := min(f.calls, len(f.scans)-1)
	f.calls++
	return f.scans[i], nil
}

func TestProcesses(t *testing.T) {
	p := func(pid int32, name string, cpu float64, rss uint64) ProcessInfo {
		return ProcessInfo{PID: pid, Name: name, CPUSeconds: cpu, RSSBytes: rss}
	}
	tests := []struct {
		name  string
		top   int
		scans [][]ProcessInfo
		want  map[string]float64
	}{
		{
			name:  "first scan: count and memory, no CPU baseline yet",
			top:   2,
			scans: [][]ProcessInfo{{p(1, "init", 5, 100), p(2, "java", 50, 900), p(3, "sshd", 1, 50)}},
			want: map[string]float64{
				"process_count": 3,
				"process_resident_memory_bytes{process=java}": 900,
				"process_resident_memory_bytes{process=init}": 100,
			},
		},
		{
			name: "second scan: top by CPU over 10 s, percent of one core",
			top:  2,
			scans: [][]ProcessInfo{
				{p(1, "init", 5, 100), p(2, "java", 50, 900), p(3, "sshd", 1, 50)},
				{p(1, "init", 5.5, 100), p(2, "java", 65, 900), p(3, "sshd", 3, 50), p(4, "new", 9, 10)},
			},
			want: map[string]float64{
				"process_count": 4,
				"process_cpu_usage_percent{process=java}":     150,
				"process_cpu_usage_percent{process=sshd}":     20,
				"process_resident_memory_bytes{process=java}": 900,
				"process_resident_memory_bytes{process=init}": 100,
			},
		},
		{
			// Three JVMs of a WebSphere cell and two short-lived compilers:
			// one series a program, whatever its processes' pids.
			name: "processes of one name are summed",
			top:  2,
			scans: [][]ProcessInfo{
				{p(10, "java", 100, 1000), p(11, "java", 10, 2000), p(12, "java", 1, 500), p(20, "cc1", 1, 300), p(21, "cc1", 2, 300)},
				{p(10, "java", 101, 1000), p(11, "java", 12, 2100), p(12, "java", 1, 500), p(21, "cc1", 7, 700), p(22, "cc1", 1, 700), p(30, "db", 3, 3000)},
			},
			want: map[string]float64{
				"process_count":                               6,
				"process_cpu_usage_percent{process=cc1}":      50, // pid 21 only: 22 started since the first scan
				"process_cpu_usage_percent{process=java}":     30,
				"process_resident_memory_bytes{process=java}": 3600,
				"process_resident_memory_bytes{process=db}":   3000,
			},
		},
		{
			name: "a reused pid with another name is a new process",
			top:  10,
			scans: [][]ProcessInfo{
				{p(7, "old", 100, 10)},
				{p(7, "other", 1, 10)},
			},
			want: map[string]float64{
				"process_count": 1,
				"process_resident_memory_bytes{process=other}": 10,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Unix(1000, 0)
			c := &Processes{Source: &fakeProcs{scans: tt.scans}, Top: tt.top, now: func() time.Time { return now }}
			var s Sink
			for range tt.scans {
				s = Sink{}
				if err := c.Collect(context.Background(), &s); err != nil {
					t.Fatal(err)
				}
				now = now.Add(10 * time.Second)
			}
			if got := values(s.Samples()); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v\nwant %v", got, tt.want)
			}
		})
	}
}

// TestProcessesOnThisMachine reads the real process list: this test itself
// is one of them.
func TestProcessesOnThisMachine(t *testing.T) {
	c := &Processes{Source: System{}, Baseline: 50 * time.Millisecond}
	var s Sink
	if err := c.Collect(context.Background(), &s); err != nil {
		t.Fatal(err)
	}
	got := values(s.Samples())
	if got["process_count"] < 2 {
		t.Errorf("process_count = %v", got["process_count"])
	}
	mem := 0
	for k := range got {
		if strings.HasPrefix(k, wire.ProcessMemoryBytes) {
			mem++
		}
	}
	if mem == 0 || mem > DefaultTopProcesses {
		t.Errorf("%d processes by memory, want 1 to %d", mem, DefaultTopProcesses)
	}
}

type fakeSensors struct {
	ts  []sensors.TemperatureStat
	err error
}

func (f fakeSensors) Temperatures(context.Context) ([]sensors.TemperatureStat, error) {
	return f.ts, f.err
}

func TestTemperature(t *testing.T) {
	tests := []struct {
		name    string
		src     fakeSensors
		want    map[string]float64
		wantErr bool
	}{
		{"two sensors", fakeSensors{ts: []sensors.TemperatureStat{{SensorKey: "coretemp_core_0", Temperature: 41}, {SensorKey: "nvme", Temperature: 35.5}}},
			map[string]float64{"temperature_celsius{sensor=coretemp_core_0}": 41, "temperature_celsius{sensor=nvme}": 35.5}, false},
		{"none, as in most virtual machines", fakeSensors{}, map[string]float64{}, false},
		{"some unreadable: the rest still count", fakeSensors{ts: []sensors.TemperatureStat{{SensorKey: "a", Temperature: 50}}, err: &sensors.Warnings{List: []error{errors.New("x")}}},
			map[string]float64{"temperature_celsius{sensor=a}": 50}, false},
		{"not on this OS", fakeSensors{err: errors.New("not implemented yet")}, map[string]float64{}, false},
		{"duplicates and nonsense dropped", fakeSensors{ts: []sensors.TemperatureStat{{SensorKey: "a", Temperature: 50}, {SensorKey: "a", Temperature: 51}, {SensorKey: "b", Temperature: -300}, {Temperature: 20}}},
			map[string]float64{"temperature_celsius{sensor=a}": 50}, false},
		{"failure", fakeSensors{err: errors.New("wmi: access denied")}, map[string]float64{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Sink
			err := (&Temperature{Source: tt.src}).Collect(context.Background(), &s)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if got := values(s.Samples()); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseCheck(t *testing.T) {
	tests := []struct {
		in      string
		want    Check
		wantErr string
	}{
		{in: "tcp://db:5432", want: Check{Target: "tcp://db:5432", Kind: "tcp", Addr: "db:5432"}},
		{in: "tcp://[::1]:22", want: Check{Target: "tcp://[::1]:22", Kind: "tcp", Addr: "[::1]:22"}},
		{in: "https://intranet/health", want: Check{Target: "https://intranet/health", Kind: "http"}},
		{in: "HTTP://x:8080/", want: Check{Target: "HTTP://x:8080/", Kind: "http"}},
		{in: "tcp://db", wantErr: "want tcp://host:port"},
		{in: "udp://x:1", wantErr: "want tcp://host:port, http"},
		{in: "https://", wantErr: "has no host"},
		{in: "db:5432", wantErr: "want tcp://host:port, http"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseCheck(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestChecks(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer ok.Close()
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer tlsSrv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(tlsSrv.Certificate())
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	open, _ := net.Listen("tcp", "127.0.0.1:0")
	defer open.Close()

	days := time.Until(tlsSrv.Certificate().NotAfter).Hours() / 24
	tests := []struct {
		name   string
		target string
		tls    *tls.Config
		want   map[string]float64 // without duration
	}{
		{"tcp port open", "tcp://" + open.Addr().String(), nil, map[string]float64{"check_success": 1}},
		{"tcp port closed", "tcp://" + closedAddr, nil, map[string]float64{"check_success": 0}},
		{"http 200", ok.URL + "/", nil, map[string]float64{"check_success": 1, "check_http_status_code": 200}},
		{"http 503", ok.URL + "/down", nil, map[string]float64{"check_success": 0, "check_http_status_code": 503}},
		{"https with its certificate trusted", tlsSrv.URL, &tls.Config{RootCAs: pool},
			map[string]float64{"check_success": 1, "check_http_status_code": 200, "check_tls_cert_expiry_days": days}},
		{"https with an unknown certificate fails, never skips verification", tlsSrv.URL, nil, map[string]float64{"check_success": 0}},
		{"nothing listening", "http://" + closedAddr, nil, map[string]float64{"check_success": 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, err := ParseCheck(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			var s Sink
			c := &Checks{Checks: []Check{ch}, Timeout: 2 * time.Second, TLS: tt.tls}
			if err := c.Collect(context.Background(), &s); err != nil {
				t.Fatal(err)
			}
			got := map[string]float64{}
			for _, smp := range s.Samples() {
				if len(smp.Labels) != 1 || smp.Labels[0] != (wire.Label{Name: wire.LabelCheck, Value: tt.target}) {
					t.Errorf("%s labels %v", smp.Metric, smp.Labels)
				}
				if smp.Metric == wire.CheckDurationSeconds {
					if smp.Value <= 0 || smp.Value > 2 {
						t.Errorf("duration %v", smp.Value)
					}
					continue
				}
				got[smp.Metric] = smp.Value
			}
			if d, ok := got["check_tls_cert_expiry_days"]; ok && d > days-0.01 && d < days+0.01 {
				got["check_tls_cert_expiry_days"] = days
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// fakeServices answers with states that a test changes.
type fakeServices struct {
	mu     sync.Mutex
	states map[string]ServiceState
}

func (f *fakeServices) ServiceStates(_ context.Context, names []string) (map[string]ServiceState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]ServiceState{}
	for _, n := range names {
		out[n] = f.states[n]
	}
	return out, nil
}

func (f *fakeServices) set(name string, st ServiceState) {
	f.mu.Lock()
	f.states[name] = st
	f.mu.Unlock()
}

func TestServicesReportChangesAtOnce(t *testing.T) {
	src := &fakeServices{states: map[string]ServiceState{"W3SVC": ServiceRunning, "MSSQLSERVER": ServiceRunning}}
	svc := &Services{Source: src, Names: []string{"W3SVC", "MSSQLSERVER", "Missing"}, Poll: 10 * time.Millisecond}
	set := NewSet(svc)

	snap, err := set.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"service_state{service=W3SVC}": 4, "service_running{service=W3SVC}": 1,
		"service_state{service=MSSQLSERVER}": 4, "service_running{service=MSSQLSERVER}": 1,
		"service_state{service=Missing}": 0, "service_running{service=Missing}": 0,
	}
	if got := values(snap.Samples); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { set.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	select {
	case <-set.Changed():
		t.Fatal("changed without a change")
	case <-time.After(50 * time.Millisecond):
	}
	src.set("W3SVC", ServiceStopped)
	select {
	case <-set.Changed():
	case <-time.After(2 * time.Second):
		t.Fatal("a stopped service was not reported within 2 s")
	}
	snap, _ = set.Collect(context.Background())
	if got := values(snap.Samples); got["service_state{service=W3SVC}"] != 1 || got["service_running{service=W3SVC}"] != 0 {
		t.Errorf("after the stop: %v", got)
	}
}

func TestServicesElsewhere(t *testing.T) {
	if _, err := (System{}).ServiceStates(context.Background(), []string{"x"}); err == nil && !isWindows() {
		t.Error("service states read on a system without Windows services")
	}
}

// slowCollector counts its runs and adds the run number.
type slowCollector struct {
	mu   sync.Mutex
	runs int
}

func (*slowCollector) Name() string { return "slow" }
func (c *slowCollector) Collect(_ context.Context, s *Sink) error {
	c.mu.Lock()
	c.runs++
	n := c.runs
	c.mu.Unlock()
	s.Add("slow_runs", float64(n))
	return nil
}

func TestEveryHandsOverEachRunOnce(t *testing.T) {
	slow := &slowCollector{}
	e := &Every{C: slow, Interval: 50 * time.Millisecond}
	set := NewSet(e)

	// Before Run: inline, for `once`.
	snap, _ := set.Collect(context.Background())
	if got := values(snap.Samples); got["slow_runs"] != 1 {
		t.Fatalf("inline: %v", got)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { set.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	var seen []float64
	for len(seen) < 3 && time.Now().Before(deadline) {
		snap, _ := set.Collect(context.Background())
		for _, s := range snap.Samples {
			seen = append(seen, s.Value)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if len(seen) < 3 {
		t.Fatalf("runs handed over: %v", seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Errorf("run results handed over twice or out of order: %v", seen)
		}
	}
}

func TestLabelValuesAreMadeValid(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "java", "java"},
		{"invalid utf-8", "ja\xffva", "ja\uFFFDva"},
		{"nul", "a\x00b", "ab"},
		{"too long", strings.Repeat("é", 600), strings.Repeat("é", 512)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Sink
			s.Add("m", 1, "process", tt.in)
			got := s.Samples()[0].Labels[0].Value
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			d := wire.SeriesDef{Metric: "m", Labels: s.Samples()[0].Labels}
			if err := wire.Validate(&wire.Batch{Defs: []wire.SeriesDef{d}}); err != nil {
				t.Errorf("the core would refuse it: %v", err)
			}
		})
	}
}
