package jmx

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"esmon/agentsvc/collect"
	"esmon/agentsvc/jmx/jmxtest"
	"esmon/internal/testenv"
)

// fakeEnv makes the test binary act as a misbehaving bridge: see fakeBridge.
const fakeEnv = "ESMON_JMX_FAKE_BRIDGE"

func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeEnv); mode != "" {
		os.Exit(fakeBridge(mode))
	}
	code := m.Run()
	shared.stop()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// fakeBridge stands in for the Java bridge, to test how the agent copes
// with one that dies, hangs or talks nonsense.
func fakeBridge(mode string) int {
	if mode == "badhello" {
		fmt.Println(`{"hello":"esmon-jmx","protocol":99}`)
		io.Copy(io.Discard, os.Stdin)
		return 0
	}
	fmt.Println(`{"hello":"esmon-jmx","protocol":1}`)
	if mode == "crash" {
		fmt.Fprintln(os.Stderr, "fake bridge dying")
		return 3
	}
	sc := bufio.NewScanner(os.Stdin)
	for id := 1; sc.Scan(); id++ {
		switch {
		case strings.Contains(sc.Text(), `"op":"connect"`):
			fmt.Printf("{\"id\":%d,\"ok\":true}\n", id)
		case mode == "garbage":
			fmt.Println("this is not JSON")
		case mode == "mute":
			// Never answer a query.
		}
	}
	return 0
}

// built holds the Java programs the tests compile once: the bridge, the
// target JVM's program and a vendor class only the target and the
// bridge's extra class path have.
var built struct {
	once   sync.Once
	err    error
	dir    string
	bridge string // classes of the bridge
	target string // classes of Target
	vendor string // classes of vendor.Stats
}

// compile builds the Java programs, or skips the test when there is no JDK.
func compile(t *testing.T) {
	t.Helper()
	testenv.LookPath(t, "java")
	javac := testenv.LookPath(t, "javac")
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "esmon-jmx-test")
		if built.err != nil {
			return
		}
		// One javac run for all three (javac is slow to start), then the
		// classes are parted into their own directories.
		all := filepath.Join(built.dir, "all")
		srcs, _ := filepath.Glob("java/esmon/jmx/*.java")
		more, _ := filepath.Glob("testdata/target/*.java")
		srcs = append(append(srcs, more...), "testdata/vendor/vendor/Stats.java")
		args := append([]string{"-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC", "--release", "8", "-Xlint:all", "-Xlint:-options", "-Werror", "-d", all}, srcs...)
		if out, err := exec.Command(javac, args...).CombinedOutput(); err != nil {
			built.err = fmt.Errorf("javac: %v\n%s", err, out)
			return
		}
		built.bridge = filepath.Join(built.dir, "bridge")
		built.target = filepath.Join(built.dir, "target")
		built.vendor = filepath.Join(built.dir, "vendor")
		for _, mv := range [][2]string{
			{filepath.Join(all, "esmon"), filepath.Join(built.bridge, "esmon")},
			{filepath.Join(all, "vendor"), filepath.Join(built.vendor, "vendor")},
			{all, built.target},
		} {
			if built.err == nil {
				built.err = os.MkdirAll(filepath.Dir(mv[1]), 0o755)
			}
			if built.err == nil {
				built.err = os.Rename(mv[0], mv[1])
			}
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
}

// quickJVM are HotSpot options that make the tests' short-lived JVMs start
// faster on a busy machine.
var quickJVM = []string{"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto"}

// targetJVM is a running Target with remote JMX on loopback.
type targetJVM struct {
	cmd   *exec.Cmd
	stdin io.Closer
	port  int
	out   *testenv.Buffer
	done  chan struct{}
}

// url is the JMX service URL of the target.
func (j *targetJVM) url() string {
	return fmt.Sprintf("service:jmx:rmi:///jndi/rmi://127.0.0.1:%d/jmxrmi", j.port)
}

func (j *targetJVM) stop() {
	j.stdin.Close()
	select {
	case <-j.done:
	case <-time.After(5 * time.Second):
		j.cmd.Process.Kill()
		<-j.done
	}
}

// startTarget runs Target with remote JMX on a free loopback port, the
// RMI registry and server on the same port, and waits until it is ready.
func startTarget(jmxOptions ...string) (*targetJVM, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	args := append(jmxtest.RemoteOptions(port), "-Xmx128m")
	args = append(args, quickJVM...)
	args = append(args, jmxOptions...)
	args = append(args, "-cp", built.target+string(os.PathListSeparator)+built.vendor, "Target")
	j := &targetJVM{cmd: exec.Command("java", args...), port: port, out: &testenv.Buffer{}, done: make(chan struct{})}
	stdin, err := j.cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	j.stdin = stdin
	stdout, err := j.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	j.cmd.Stderr = j.out
	if err := j.cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ok := false
		for sc.Scan() {
			j.out.Write(append(sc.Bytes(), '\n'))
			if !ok && strings.HasPrefix(sc.Text(), "ready") {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
		j.cmd.Wait()
		close(j.done)
	}()
	select {
	case ok := <-ready:
		if ok {
			return j, nil
		}
	case <-time.After(30 * time.Second):
	}
	j.stop()
	return nil, fmt.Errorf("target JVM did not start:\n%s", j.out.String())
}

// sharedJVM is one unauthenticated target JVM that several tests read,
// started by the first of them and stopped by TestMain.
type sharedJVM struct {
	once sync.Once
	jvm  *targetJVM
	err  error
}

var shared sharedJVM

func sharedTarget(t *testing.T) *targetJVM {
	t.Helper()
	compile(t)
	shared.once.Do(func() {
		shared.jvm, shared.err = startTarget("-Dcom.sun.management.jmxremote.authenticate=false")
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.jvm
}

func (s *sharedJVM) stop() {
	if s.jvm != nil {
		s.jvm.stop()
	}
}

// running is a Collector whose bridges run until the test ends.
type running struct {
	*Collector
	log *testenv.Buffer
}

// startCollector runs a Collector of targets from the compiled bridge, with
// the backoff and grace shortened by tune (if not nil). It checks at the
// end of the test that every goroutine has stopped.
func startCollector(t *testing.T, tune func(*bridge), targets ...Target) *running {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	for i := range targets {
		if targets[i].Java == "" {
			targets[i].JavaOptions = append(targets[i].JavaOptions, quickJVM...)
		}
		if err := targets[i].check(); err != nil {
			t.Fatalf("target %s: %v", targets[i].Name, err)
		}
	}
	logs := &testenv.Buffer{}
	c, err := New(Options{Targets: targets, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), classPath: built.bridge})
	if err != nil {
		t.Fatal(err)
	}
	if tune != nil {
		for _, b := range c.bridges {
			tune(b)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		c.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the collector's bridges did not stop within 10 s")
		}
		if t.Failed() {
			t.Logf("--- agent log ---\n%s", logs.String())
		}
	})
	return &running{Collector: c, log: logs}
}

// collectOnce runs one collection with the given time limit and returns
// the samples by series key (metric{label=value,...}) and the error.
func (r *running) collectOnce(limit time.Duration) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var s collect.Sink
	err := r.Collect(ctx, &s)
	out := map[string]float64{}
	for _, sm := range s.Samples() {
		out[seriesKey(sm)] = sm.Value
	}
	return out, err
}

// waitUp collects until jvm names reports jvm_up 1, and returns that
// collection.
func (r *running) waitUp(t *testing.T, jvm string) (map[string]float64, error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := r.collectOnce(5 * time.Second)
		if got[`jvm_up{jvm="`+jvm+`"}`] == 1 {
			return got, err
		}
		if time.Now().After(deadline) {
			t.Fatalf("jvm %s never up; last error: %v", jvm, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitRunning waits until every bridge has started and said hello.
func (r *running) waitRunning(t *testing.T) {
	t.Helper()
	for _, b := range r.bridges {
		waitFor(t, 30*time.Second, "the bridge of "+b.target.Name, func() bool { return b.pid() != 0 })
	}
}

func seriesKey(s collect.Sample) string {
	if len(s.Labels) == 0 {
		return s.Metric
	}
	parts := make([]string, len(s.Labels))
	for i, l := range s.Labels {
		parts[i] = fmt.Sprintf("%s=%q", l.Name, l.Value)
	}
	return s.Metric + "{" + strings.Join(parts, ",") + "}"
}
