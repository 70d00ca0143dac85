package e2e

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"esmon/agentsvc/jmx/jmxtest"
	"esmon/core/apiv1"
	"esmon/internal/testenv"
)

// TestJMX is the JMX bridge end to end: a real JVM with remote JMX on
// loopback, an esmon-agent built the way `make` builds it (the bridge jar
// embedded) whose config lists that JVM, and a real core. The JVM's heap,
// threads and GC figures show in the host's latest values, which the host
// page reads, and answer a range query.
func TestJMX(t *testing.T) {
	testenv.LookPath(t, "java")
	testenv.LookPath(t, "javac") // make jmx-bridge compiles the bridge
	testenv.LookPath(t, "jar")
	mk := testenv.LookPath(t, "make")
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}

	// The agent carries the bridge only when the jar was built before go
	// build; build both here as make does.
	if out, err := exec.Command(mk, "-s", "-C", root, "jmx-bridge").CombinedOutput(); err != nil {
		t.Fatalf("make jmx-bridge: %v\n%s", err, out)
	}
	agent := filepath.Join(t.TempDir(), "esmon-agent")
	build := exec.Command("go", "build", "-o", agent, "esmon/agentsvc")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build esmon-agent: %v\n%s", err, out)
	}

	port := jmxtest.StartIdle(t).Port

	c := startCore(t, "")
	state := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `jmx:
  - name: e2e-app
    url: service:jmx:rmi:///jndi/rmi://127.0.0.1:%d/jmxrmi
    timeout: 800ms
`, port), 0o600); err != nil {
		t.Fatal(err)
	}
	ag := startWithEnv(t, "esmon-agent", []string{"ESMON_JOIN_CODE=" + c.joinCode(t, 1, 10*time.Minute).Code}, agent,
		"run", "--config", cfg, "--interval", "1s", "--state-dir", state)

	h := c.waitHost(t)
	waitFor(t, 30*time.Second, "jvm_threads in the host's latest values", func() bool {
		c.do(t, "GET", "/api/v1/hosts/"+h.ID, nil, &h)
		_, ok := h.Latest[`jvm_threads{jvm="e2e-app"}`]
		return ok
	})
	latest := func(k string) float64 {
		v, ok := h.Latest[k]
		if !ok {
			t.Errorf("latest values lack %s", k)
		}
		return v
	}
	used, limit := latest(`jvm_memory_heap_used_bytes{jvm="e2e-app"}`), latest(`jvm_memory_heap_max_bytes{jvm="e2e-app"}`)
	if used <= 0 || used > limit || limit > 64<<20 {
		t.Errorf("heap used %v of max %v; the JVM runs with -Xmx64m", used, limit)
	}
	if p := latest(`jvm_heap_used_percent{jvm="e2e-app"}`); p <= 0 || p > 100 {
		t.Errorf("heap used percent = %v", p)
	}
	if n := latest(`jvm_threads{jvm="e2e-app"}`); n < 3 || n > 500 {
		t.Errorf("threads = %v; Idle runs main and %d idle threads", n, jmxtest.IdleThreads)
	}
	if latest(`jvm_up{jvm="e2e-app"}`) != 1 || latest(`jvm_classes_loaded{jvm="e2e-app"}`) < 300 {
		t.Errorf("jvm_up or classes loaded wrong: %v", h.Latest)
	}
	gc := 0
	for k := range h.Latest {
		if strings.HasPrefix(k, `jvm_gc_collections_total{collector="`) && strings.HasSuffix(k, `",jvm="e2e-app"}`) {
			gc++
		}
	}
	if gc == 0 {
		t.Errorf("no jvm_gc_collections_total per collector in %v", h.Latest)
	}

	var q apiv1.QueryResult
	waitFor(t, 15*time.Second, "two heap samples in /api/v1/query", func() bool {
		c.do(t, "GET", "/api/v1/query?"+url.Values{"host": {h.ID}, "metric": {"jvm_memory_heap_used_bytes"},
			"from": {"-5m"}, "match[jvm]": {"e2e-app"}}.Encode(), nil, &q)
		return len(q.Series) == 1 && len(q.Series[0].Points) >= 2
	})
	if s := q.Series[0]; s.Labels["jvm"] != "e2e-app" || s.Points[0].V <= 0 {
		t.Errorf("query series = %+v", s)
	}

	jars, _ := filepath.Glob(filepath.Join(state, "jmx", "esmon-jmx-*.jar"))
	if len(jars) != 1 {
		t.Errorf("bridge jars in the state directory: %v", jars)
	}
	if out := ag.out.String(); !strings.Contains(out, "JMX bridge running") || strings.Contains(out, "JMX bridge stopped") {
		t.Errorf("agent log:\n%s", out)
	}
}
