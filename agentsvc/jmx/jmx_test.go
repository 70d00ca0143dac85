package jmx

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"esmon/agentsvc/collect"
)

// TestRealJVM reads a real JVM over remote JMX: the default figures are
// there and sane, a query with labels from the object name works, a vendor
// value is read through the extra class path, and without that class path
// it fails alone.
func TestRealJVM(t *testing.T) {
	j := sharedTarget(t)
	probe := Query{ObjectName: "esmon.test:type=Probe,*", Labels: map[string]string{"probe": "name"}, Attributes: []Attribute{
		{Attribute: "Answer", Metric: "test_answer"},
		{Attribute: "Stats", Key: "PoolSize", Metric: "test_pool_size"},
		{Attribute: "Stats", Key: "PoolSize.highWaterMark", Metric: "test_pool_peak"},
	}}
	no := false
	r := startCollector(t, nil,
		Target{Name: "app", URL: j.url(), ClassPath: []string{built.vendor}, Queries: []Query{probe}},
		Target{Name: "novendor", URL: j.url(), Defaults: &no, Queries: []Query{probe}},
	)
	r.waitRunning(t)
	r.waitUp(t, "novendor")
	got, err := r.waitUp(t, "app")
	if err == nil || strings.Contains(err.Error(), "jvm app") || !strings.Contains(err.Error(), "jvm novendor") ||
		!strings.Contains(err.Error(), "ClassNotFoundException: vendor.Stats") {
		t.Errorf("error = %v; want only novendor's missing vendor.Stats", err)
	}

	heapUsed := got[`jvm_memory_heap_used_bytes{jvm="app"}`]
	heapCommitted := got[`jvm_memory_heap_committed_bytes{jvm="app"}`]
	heapMax := got[`jvm_memory_heap_max_bytes{jvm="app"}`]
	threads := got[`jvm_threads{jvm="app"}`]
	checks := []struct {
		name string
		ok   bool
	}{
		{"heap used > 0", heapUsed > 0},
		{"heap used <= committed", heapUsed <= heapCommitted},
		{"heap committed <= max", heapCommitted <= heapMax},
		{"heap max is -Xmx128m", heapMax > 64<<20 && heapMax <= 128<<20},
		// The agent sends percentages to two decimals (collect.Sink.Add).
		{"heap percent is used/max", math.Abs(got[`jvm_heap_used_percent{jvm="app"}`]-100*heapUsed/heapMax) <= 0.005+1e-9},
		{"non-heap used > 0", got[`jvm_memory_nonheap_used_bytes{jvm="app"}`] > 0},
		{"non-heap committed >= used", got[`jvm_memory_nonheap_committed_bytes{jvm="app"}`] >= got[`jvm_memory_nonheap_used_bytes{jvm="app"}`]},
		{"threads >= main and 3 idle", threads >= 4 && threads < 500},
		{"daemon threads >= 3 and < threads", got[`jvm_threads_daemon{jvm="app"}`] >= 3 && got[`jvm_threads_daemon{jvm="app"}`] < threads},
		{"peak threads >= threads", got[`jvm_threads_peak{jvm="app"}`] >= threads},
		{"classes loaded > 300", got[`jvm_classes_loaded{jvm="app"}`] > 300},
		{"answer with probe label", got[`test_answer{jvm="app",probe="probe one"}`] == 42},
		{"vendor statistic current", got[`test_pool_size{jvm="app",probe="probe one"}`] == 7},
		{"vendor statistic getter", got[`test_pool_peak{jvm="app",probe="probe one"}`] == 10},
		{"novendor still reads the rest", got[`test_answer{jvm="novendor",probe="probe one"}`] == 42},
		{"novendor has no defaults", got[`jvm_threads{jvm="novendor"}`] == 0},
		{"jvm_up", got[`jvm_up{jvm="app"}`] == 1 && got[`jvm_up{jvm="novendor"}`] == 1},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: no", c.name)
		}
	}
	// Target ran System.gc(), so some collector counted a collection.
	var collectors, collections int
	for k, v := range got {
		if strings.HasPrefix(k, `jvm_gc_collections_total{jvm="app",collector="`) {
			collectors++
			collections += int(v)
			if tk := strings.Replace(k, "jvm_gc_collections_total", "jvm_gc_time_seconds_total", 1); got[tk] < 0 || got[tk] > 60 {
				t.Errorf("%s = %v", tk, got[tk])
			}
		}
	}
	if collectors == 0 || collections == 0 {
		t.Errorf("%d collectors with %d collections; want at least one of each", collectors, collections)
	}
	if t.Failed() {
		t.Logf("samples: %v", got)
	}
}

// TestAuthentication reads a JVM that wants a password: the right one
// works; a wrong one or none reads nothing, says why, and no password
// shows in the log.
func TestAuthentication(t *testing.T) {
	compile(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pw := write("jmxremote.password", "monitorRole s3cret-pass\n")
	acc := write("jmxremote.access", "monitorRole readonly\n")
	j, err := startTarget("-Dcom.sun.management.jmxremote.authenticate=true",
		"-Dcom.sun.management.jmxremote.password.file="+pw, "-Dcom.sun.management.jmxremote.access.file="+acc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(j.stop)

	r := startCollector(t, nil,
		Target{Name: "right", URL: j.url(), Username: "monitorRole", PasswordFile: write("agent.pass", "s3cret-pass\n")},
		Target{Name: "wrong", URL: j.url(), Username: "monitorRole", Password: "wr0ng-pass"},
		Target{Name: "none", URL: j.url()},
	)
	r.waitRunning(t)
	got, err := r.waitUp(t, "right")
	if got[`jvm_threads{jvm="right"}`] < 4 {
		t.Errorf("threads of right = %v", got[`jvm_threads{jvm="right"}`])
	}
	for _, name := range []string{"wrong", "none"} {
		if got[`jvm_up{jvm="`+name+`"}`] != 0 || got[`jvm_threads{jvm="`+name+`"}`] != 0 {
			t.Errorf("%s read something: %v", name, got)
		}
		if err == nil || !strings.Contains(err.Error(), "jvm "+name+": SecurityException: Authentication failed") {
			t.Errorf("error = %v; want authentication failed for %s", err, name)
		}
	}
	if strings.Contains(err.Error(), "jvm right") {
		t.Errorf("error names right: %v", err)
	}
	for _, secret := range []string{"s3cret-pass", "wr0ng-pass"} {
		if strings.Contains(r.log.String(), secret) {
			t.Errorf("a password is in the log:\n%s", r.log.String())
		}
	}
}

// TestHungQuery reads an attribute that never returns: that JVM's
// collection ends with a timeout within its limit, another JVM's figures
// still come, and the bridge lives on to answer the next one.
func TestHungQuery(t *testing.T) {
	j := sharedTarget(t)
	no := false
	r := startCollector(t, nil,
		Target{Name: "hung", URL: j.url(), Defaults: &no, Timeout: time.Second, Queries: []Query{
			{ObjectName: "esmon.test:type=Probe,*", Attributes: []Attribute{{Attribute: "Hang", Metric: "test_hang"}}},
		}},
		Target{Name: "fine", URL: j.url()},
	)
	r.waitRunning(t)
	r.waitUp(t, "fine")
	// A first connection can outlast the timeout on a busy machine; the
	// bridge then says it is still connecting. Either answer must come in
	// time, and once connected the hung attribute must time out.
	timedOut := 0
	for i := 0; timedOut < 2; i++ {
		if i == 20 {
			t.Fatalf("%d collections, %d timed out on the hung attribute", i, timedOut)
		}
		began := time.Now()
		got, err := r.collectOnce(10 * time.Second)
		took := time.Since(began)
		if took > 2500*time.Millisecond {
			t.Errorf("collection %d took %v; the hung JVM's timeout is 1s", i, took)
		}
		switch {
		case err != nil && strings.Contains(err.Error(), "jvm hung: timed out after 1000 ms; the connection is reset"):
			timedOut++
		case err != nil && strings.Contains(err.Error(), "jvm hung: still connecting after 1000 ms"):
		default:
			t.Errorf("collection %d: error = %v; want hung timed out", i, err)
		}
		if strings.Contains(fmt.Sprint(err), "jvm fine") || got[`jvm_up{jvm="hung"}`] != 0 || got[`jvm_up{jvm="fine"}`] != 1 || got[`jvm_threads{jvm="fine"}`] < 4 {
			t.Errorf("collection %d: %v, %v", i, got, err)
		}
	}
	if n := r.bridges[0].startCount(); n != 1 {
		t.Errorf("hung bridge started %d times; it answered in time, so once is right", n)
	}
}

// TestSlowConnect points a bridge at a server that accepts connections and
// never answers: collections end in time saying the bridge is still
// connecting, and the bridge is neither killed nor made to start over.
func TestSlowConnect(t *testing.T) {
	compile(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(held)
				return
			}
			held <- c
		}
	}()
	t.Cleanup(func() {
		l.Close()
		for c := range held {
			c.Close()
		}
	})
	url := fmt.Sprintf("service:jmx:rmi:///jndi/rmi://%s/jmxrmi", l.Addr())
	r := startCollector(t, nil, Target{Name: "slow", URL: url, Timeout: 500 * time.Millisecond})
	waitFor(t, 20*time.Second, "the bridge", func() bool { return r.bridges[0].pid() != 0 })
	for i := range 3 {
		began := time.Now()
		_, err := r.collectOnce(5 * time.Second)
		if err == nil || !strings.Contains(err.Error(), "jvm slow: still connecting after 500 ms") {
			t.Errorf("collection %d: error = %v", i, err)
		}
		if took := time.Since(began); took > 2*time.Second {
			t.Errorf("collection %d took %v", i, took)
		}
	}
	if n := r.bridges[0].startCount(); n != 1 {
		t.Errorf("%d bridge starts, want 1", n)
	}
}

// TestBridgeRestart kills a running bridge: it comes back after a short
// backoff and reads the JVM again.
func TestBridgeRestart(t *testing.T) {
	j := sharedTarget(t)
	r := startCollector(t, fastRestart, Target{Name: "app", URL: j.url()})
	r.waitUp(t, "app")
	b := r.bridges[0]
	p, err := os.FindProcess(b.pid())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "a second bridge", func() bool { return b.startCount() == 2 && b.pid() != 0 })
	got, _ := r.waitUp(t, "app")
	if got[`jvm_threads{jvm="app"}`] < 4 {
		t.Errorf("after restart: %v", got)
	}
	if !strings.Contains(r.log.String(), "JMX bridge stopped; restarting") {
		t.Errorf("no restart in the log:\n%s", r.log.String())
	}
}

func fastRestart(b *bridge) {
	b.backoff.Min, b.backoff.Max = 50*time.Millisecond, 200*time.Millisecond
}

// TestCrashingBridgeBacksOff runs a bridge that dies at once: it is
// restarted, but with growing waits, not in a tight loop; its standard
// error reaches the log; collections meanwhile say it is down.
func TestCrashingBridgeBacksOff(t *testing.T) {
	r := startFake(t, "crash", func(b *bridge) {
		b.backoff.Min, b.backoff.Max = 100*time.Millisecond, 400*time.Millisecond
	})
	got, err := r.collectOnce(time.Second)
	if got[`jvm_up{jvm="fake"}`] != 0 || err == nil {
		t.Errorf("collection from a dead bridge: %v, %v", got, err)
	}
	began := time.Now()
	b := r.bridges[0]
	waitFor(t, 20*time.Second, "four starts", func() bool { return b.startCount() >= 4 })
	// Waits are at least 100 ms, so no more than one start per 100 ms;
	// without backoff there would be hundreds a second.
	if n, took := b.startCount(), time.Since(began); n > int(took/(100*time.Millisecond))+2 {
		t.Errorf("%d starts in %v with waits of at least 100 ms", n, took)
	}
	// Each wait is drawn between 100 ms and a ceiling that doubles from
	// 100 ms up to 400 ms.
	waits := regexp.MustCompile(`restarting" .*after=(\S+)`).FindAllStringSubmatch(r.log.String(), -1)
	if len(waits) < 3 {
		t.Fatalf("%d restarts logged, want 3 or more", len(waits))
	}
	for i, w := range waits {
		d, err := time.ParseDuration(w[1])
		ceiling := min(100*time.Millisecond<<i, 400*time.Millisecond)
		if err != nil || d < 100*time.Millisecond || d > ceiling {
			t.Errorf("wait %d = %s, want between 100ms and %s", i, w[1], ceiling)
		}
	}
	logs := r.log.String()
	for _, want := range []string{"JMX bridge: fake bridge dying", "JMX bridge stopped; restarting", "exit status 3"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// TestMisbehavingBridge runs bridges that break the protocol in different
// ways: each is killed and restarted, and says why in the log.
func TestMisbehavingBridge(t *testing.T) {
	for _, tt := range []struct {
		mode    string
		logged  string
		collErr string
	}{
		{"mute", "bridge gave no answer within 500ms", "bridge killed: bridge gave no answer"},
		{"garbage", "bridge broke the protocol", "bridge killed: bridge broke the protocol"},
		{"badhello", "bridge speaks protocol 99, want 1", "not running"},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			r := startFake(t, tt.mode, func(b *bridge) {
				fastRestart(b)
				b.grace = 200 * time.Millisecond
			})
			b := r.bridges[0]
			if tt.mode != "badhello" {
				waitFor(t, 10*time.Second, "the fake bridge", func() bool { return b.pid() != 0 })
			}
			_, err := r.collectOnce(5 * time.Second)
			if err == nil || !strings.Contains(err.Error(), tt.collErr) {
				t.Errorf("error = %v; want %q", err, tt.collErr)
			}
			waitFor(t, 10*time.Second, "a restart", func() bool { return b.startCount() >= 2 })
			waitFor(t, 5*time.Second, "the reason in the log", func() bool { return strings.Contains(r.log.String(), tt.logged) })
		})
	}
}

// TestGivenUpRequestStillGuarded gives up on a request to a bridge that
// never answers before the bridge's own deadline: the collection ends with
// its context, and the bridge is still killed as hung and restarted.
func TestGivenUpRequestStillGuarded(t *testing.T) {
	r := startFake(t, "mute", func(b *bridge) {
		fastRestart(b)
		b.grace = 200 * time.Millisecond
	})
	b := r.bridges[0]
	waitFor(t, 10*time.Second, "the fake bridge", func() bool { return b.pid() != 0 })
	if _, err := r.collectOnce(150 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "context deadline exceeded") {
		t.Errorf("error = %v, want the collection's deadline", err)
	}
	waitFor(t, 10*time.Second, "the hung bridge killed and started again", func() bool { return b.startCount() >= 2 })
	if !strings.Contains(r.log.String(), "bridge gave no answer within 300ms") {
		t.Errorf("log:\n%s", r.log.String())
	}
}

// startFake runs a Collector whose bridge is this test binary acting as a
// bridge in mode (see fakeBridge).
func startFake(t *testing.T, mode string, tune func(*bridge)) *running {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(fakeEnv, mode)
	return startCollector(t, tune, Target{Name: "fake", URL: "service:jmx:rmi:///jndi/rmi://127.0.0.1:1/jmxrmi", Java: exe, Timeout: 300 * time.Millisecond})
}

// TestBridgeProtocol talks to the Java bridge directly: bad lines get an
// error answer and the bridge goes on; list names MBeans and attributes.
func TestBridgeProtocol(t *testing.T) {
	j := sharedTarget(t)
	cmd := exec.Command("java", "-cp", built.bridge, bridgeClass)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, maxLine)
	readLine := func() string {
		if !sc.Scan() {
			t.Fatalf("bridge output ended: %v", sc.Err())
		}
		return sc.Text()
	}
	if h := readLine(); !strings.HasPrefix(h, `{"hello":"esmon-jmx","protocol":1,`) {
		t.Fatalf("hello = %s", h)
	}
	deep := strings.Repeat("[", 40) + strings.Repeat("]", 40)
	for _, tt := range []struct {
		name, line, want string
	}{
		{"not JSON", `{bad`, `{"id":0,"error":"bad request: want a string key at offset 1"}`},
		{"trailing data", `{"id":1,"op":"list"} x`, `{"id":0,"error":"bad request: unexpected data after the value at offset 21"}`},
		{"not an object", `[1]`, `{"id":0,"error":"bad request: a request is a JSON object"}`},
		{"no id", `{"op":"list"}`, `{"id":0,"error":"bad request: id must be a whole number"}`},
		{"fractional id", `{"id":1.5,"op":"list"}`, `{"id":0,"error":"bad request: id must be a whole number"}`},
		{"duplicate key", `{"id":2,"id":3}`, `{"id":0,"error":"bad request: duplicate key \"id\" at offset 8"}`},
		{"too deep", `{"id":4,"op":"list","x":` + deep + `}`, `{"id":0,"error":"bad request: nested deeper than 32 at offset 56"}`},
		{"bad escape", `{"id":5,"op":"l\ist"}`, `{"id":0,"error":"bad request: bad escape \\i at offset 16"}`},
		{"unknown op", `{"id":6,"op":"drop"}`, `{"id":6,"error":"bad request: unknown op \"drop\""}`},
		{"unknown field", `{"id":7,"op":"query","queries":[],"extra":1}`, `{"id":7,"error":"bad request: unknown field \"extra\""}`},
		{"bad object name", `{"id":8,"op":"query","queries":[{"object_name":"nocolon","attributes":[]}]}`, `{"id":8,"error":"bad request: object_name \"nocolon\": Key properties cannot be empty"}`},
		{"query before connect", `{"id":9,"op":"query","queries":[]}`, `{"id":9,"error":"connection: IOException: not configured: send connect first"}`},
		{"bad url", `{"id":10,"op":"connect","url":"http://x"}`, `{"id":10,"error":"bad request: url: Service URL must start with service:jmx:"}`},
		{"connect", fmt.Sprintf(`{"id":11,"op":"connect","url":%q}`, j.url()), `{"id":11,"ok":true}`},
		{"escaped text", `{"id":12,"op":"query","timeout_ms":5000,"queries":[{"object_name":"esmon.test:type=Probe,*","labels":{"n\u00e9":"name"},"attributes":[{"attribute":"Answer","metric":"a\"b"}]}]}`,
			`{"id":12,"samples":[{"metric":"a\"b","labels":{"né":"probe one"},"value":42}],"errors":[]}`},
	} {
		if _, err := fmt.Fprintln(stdin, tt.line); err != nil {
			t.Fatal(err)
		}
		if got := readLine(); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}

	fmt.Fprintln(stdin, `{"id":20,"op":"list","pattern":"esmon.test:*","timeout_ms":5000}`)
	var list struct {
		ID     int `json:"id"`
		MBeans []struct {
			Name       string `json:"name"`
			Attributes []struct{ Name, Type string }
		} `json:"mbeans"`
	}
	if err := json.Unmarshal([]byte(readLine()), &list); err != nil {
		t.Fatal(err)
	}
	if list.ID != 20 || len(list.MBeans) != 1 || list.MBeans[0].Name != `esmon.test:name="probe one",type=Probe` {
		t.Fatalf("list = %+v", list)
	}
	types := map[string]string{}
	for _, a := range list.MBeans[0].Attributes {
		types[a.Name] = a.Type
	}
	if types["Answer"] != "int" || types["Stats"] != "vendor.Stats" {
		t.Errorf("attributes = %v", types)
	}
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOneShot reads JVMs the way `esmon-agent once` does, with no Run
// around it: each Collect starts the bridges, reads, and stops them, so no
// bridge process or goroutine outlives it, and it can be called again.
func TestOneShot(t *testing.T) {
	j := sharedTarget(t)
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := fmt.Sprintf("service:jmx:rmi:///jndi/rmi://%s/jmxrmi", free.Addr())
	free.Close()
	cases := []struct {
		name    string
		targets []Target
		up      map[string]float64
		errHas  string
	}{
		{"a JVM that answers", []Target{{Name: "app", URL: j.url()}}, map[string]float64{"app": 1}, ""},
		{"one JVM down beside one that answers", []Target{{Name: "app", URL: j.url()}, {Name: "gone", URL: down, Timeout: 5 * time.Second}},
			map[string]float64{"app": 1, "gone": 0}, "jvm gone"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			for i := range tc.targets {
				tc.targets[i].JavaOptions = quickJVM
				if err := tc.targets[i].check(); err != nil {
					t.Fatal(err)
				}
			}
			c, err := New(Options{Targets: tc.targets, classPath: built.bridge})
			if err != nil {
				t.Fatal(err)
			}
			once := c.OneShot()
			for round := range 2 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				var s collect.Sink
				err := once.Collect(ctx, &s)
				cancel()
				up := map[string]float64{}
				for _, sm := range s.Samples() {
					if sm.Metric == "jvm_up" {
						up[sm.Labels[0].Value] = sm.Value
					}
				}
				if fmt.Sprint(up) != fmt.Sprint(tc.up) {
					t.Errorf("round %d: jvm_up %v, want %v (err %v)", round, up, tc.up, err)
				}
				if (err == nil) != (tc.errHas == "") || err != nil && !strings.Contains(err.Error(), tc.errHas) {
					t.Errorf("round %d: error %v, want one naming %q", round, err, tc.errHas)
				}
				for _, b := range c.bridges {
					if pid := b.pid(); pid != 0 {
						t.Errorf("round %d: the bridge of %s still runs (pid %d) after the collection", round, b.target.Name, pid)
					}
				}
			}
			goleak.VerifyNone(t, ignore)
		})
	}
}
