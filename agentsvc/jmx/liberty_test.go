package jmx

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readmeTemplate returns the targets of the README's YAML example that
// contains marker, parsed as the agent parses its config.
func readmeTemplate(t *testing.T, marker string) []Target {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	pass := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(pass, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		if !strings.Contains(m[1], marker) {
			continue
		}
		doc := regexp.MustCompile(`password_file: \S+`).ReplaceAllString(m[1], "password_file: "+pass)
		ts, err := parse(t, doc)
		if err != nil {
			t.Fatalf("the README's example with %s: %v", marker, err)
		}
		return ts
	}
	t.Fatalf("README.md has no YAML example with %s", marker)
	return nil
}

// TestLibertyTemplate runs the README's Liberty (monitor-1.0) template, its
// queries as documented, through the real bridge against a JVM that
// registers MXBeans with Open Liberty's object names, attribute names and
// types (testdata/target/Liberty.java, which says where each comes from),
// and checks every metric the agent then sends: name, labels and value,
// with milliseconds turned into seconds. It proves that the template's
// queries, labels and scales fit MBeans of that shape; not that a real
// Liberty serves them (no Liberty here), nor that the REST connector
// settings of the template work (the bridge reaches this JVM over the
// JDK's RMI connector instead).
func TestLibertyTemplate(t *testing.T) {
	ts := readmeTemplate(t, "service:jmx:rest://")
	if len(ts) != 1 {
		t.Fatalf("the Liberty example has %d JVMs, want 1", len(ts))
	}
	tmpl := ts[0]
	j := sharedTarget(t)
	// The template as documented, but for the connection: the JDK's RMI
	// connector instead of Liberty's REST connector.
	r := startCollector(t, nil, Target{Name: tmpl.Name, URL: j.url(), Queries: tmpl.Queries})
	r.waitRunning(t)
	got, err := r.waitUp(t, tmpl.Name)
	if err != nil {
		t.Errorf("collection error: %v", err)
	}
	const pool, maxdb, dflt, module = `pool="Default Executor"`, `datasource="jdbc/maxdb"`, `datasource="dataSource[default-0]/connectionManager"`, `module="default_host/maximo"`
	want := map[string]float64{
		`liberty_threadpool_active_threads{jvm="manage",` + pool + `}`:            3,
		`liberty_threadpool_threads{jvm="manage",` + pool + `}`:                   8,
		`liberty_jdbc_pool_connections{jvm="manage",` + maxdb + `}`:               10,
		`liberty_jdbc_pool_free_connections{jvm="manage",` + maxdb + `}`:          6,
		`liberty_jdbc_pool_handles{jvm="manage",` + maxdb + `}`:                   4,
		`liberty_jdbc_pool_wait_mean_seconds{jvm="manage",` + maxdb + `}`:         0.25,
		`liberty_jdbc_pool_in_use_mean_seconds{jvm="manage",` + maxdb + `}`:       1.5,
		`liberty_jdbc_pool_created_total{jvm="manage",` + maxdb + `}`:             12,
		`liberty_jdbc_pool_destroyed_total{jvm="manage",` + maxdb + `}`:           2,
		`liberty_jdbc_pool_connections{jvm="manage",` + dflt + `}`:                1,
		`liberty_jdbc_pool_free_connections{jvm="manage",` + dflt + `}`:           1,
		`liberty_jdbc_pool_handles{jvm="manage",` + dflt + `}`:                    0,
		`liberty_jdbc_pool_wait_mean_seconds{jvm="manage",` + dflt + `}`:          0,
		`liberty_jdbc_pool_in_use_mean_seconds{jvm="manage",` + dflt + `}`:        0,
		`liberty_jdbc_pool_created_total{jvm="manage",` + dflt + `}`:              1,
		`liberty_jdbc_pool_destroyed_total{jvm="manage",` + dflt + `}`:            0,
		`liberty_sessions_live{jvm="manage",` + module + `}`:                      17,
		`liberty_sessions_active{jvm="manage",` + module + `}`:                    2,
		`liberty_sessions_created_total{jvm="manage",` + module + `}`:             40,
		`liberty_sessions_invalidated_total{jvm="manage",` + module + `}`:         23,
		`liberty_sessions_invalidated_timeout_total{jvm="manage",` + module + `}`: 20,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (sent: %v), want %v", k, g, ok, v)
		}
	}
	// Nothing else under the template's names: no series with a label
	// missing or taken from the wrong key.
	for k := range got {
		if strings.HasPrefix(k, "liberty_") {
			if _, ok := want[k]; !ok {
				t.Errorf("unexpected series %s = %v", k, got[k])
			}
		}
	}
	// The template keeps the defaults of every JVM.
	if got[`jvm_threads{jvm="manage"}`] < 4 || got[`jvm_up{jvm="manage"}`] != 1 {
		t.Errorf("default figures missing: jvm_threads %v, jvm_up %v", got[`jvm_threads{jvm="manage"}`], got[`jvm_up{jvm="manage"}`])
	}
	if t.Failed() {
		t.Logf("samples: %v", got)
	}
}
