package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"esmon/agentsvc/jmx/jmxtest"
	"esmon/core/wire"
	"esmon/internal/testenv"
)

// TestOnceReadsJMX runs `esmon-agent once` with jmx: targets and checks
// that the snapshot it prints holds the JVM's figures read through the
// bridge (a real JVM), or says the JVM is down, beside the system's
// figures.
func TestOnceReadsJMX(t *testing.T) {
	testenv.LookPath(t, "java")
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := fmt.Sprintf("service:jmx:rmi:///jndi/rmi://%s/jmxrmi", free.Addr())
	free.Close()
	upURL := jmxtest.StartIdle(t).URL

	cases := []struct {
		name    string
		jmx     string             // the config file's jmx: section
		want    map[string]float64 // jvm_up by jvm label
		figures bool               // heap figures of the "app" JVM present
		stderr  string
	}{
		{name: "no jmx targets", jmx: "", want: map[string]float64{}},
		{name: "a JVM that answers", jmx: "jmx:\n  - name: app\n    url: " + upURL + "\n",
			want: map[string]float64{"app": 1}, figures: true},
		{name: "a JVM that answers and one that is down",
			jmx:  "jmx:\n  - name: app\n    url: " + upURL + "\n  - name: gone\n    url: " + closedURL + "\n    timeout: 5s\n",
			want: map[string]float64{"app": 1, "gone": 0}, figures: true, stderr: "jvm gone"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "agent.yml")
			body := "state_dir: " + filepath.Join(dir, "state") + "\nprocess_interval: 0\n" + tc.jmx
			if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var stderr bytes.Buffer
			cmd := agentCmd(ctx, t, "once", "--config", cfg)
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("once: %v\n%s", err, stderr.String())
			}
			var got onceOutput
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("once printed no JSON: %v\n%s", err, out)
			}
			up := map[string]float64{}
			seen := map[string]float64{}
			for _, m := range got.Metrics {
				if m.Metric == wire.JVMUp {
					up[m.Labels[wire.LabelJVM]] = m.Value
				}
				if strings.HasPrefix(m.Metric, "jvm_") && m.Labels[wire.LabelJVM] == "app" {
					seen[m.Metric] = m.Value
				}
				if m.Labels[wire.LabelJVM] == "" {
					seen[m.Metric] = m.Value
				}
			}
			if fmt.Sprint(up) != fmt.Sprint(tc.want) {
				t.Errorf("jvm_up by jvm = %v, want %v\nstderr: %s", up, tc.want, stderr.String())
			}
			if _, ok := seen[wire.MemoryTotalBytes]; !ok {
				t.Errorf("the system's figures are missing beside the JVMs': %v", seen)
			}
			for _, m := range []string{wire.JVMHeapUsedBytes, wire.JVMHeapMaxBytes, wire.JVMHeapUsedPercent} {
				if v, ok := seen[m]; ok != tc.figures || ok && v <= 0 {
					t.Errorf("%s of jvm app = %v (present %v), want present %v and above 0", m, v, ok, tc.figures)
				}
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr.String())
			}
		})
	}
}
