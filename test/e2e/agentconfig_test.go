package e2e

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"esmon/core/apiv1"
)

// TestCorePushesAgentConfig runs an agent at 1 s under a core whose config
// pushes a 2 s interval and a TCP check: the agent switches to them, reports
// the config version it runs, keeps it across its own restart, and is not
// sent it again.
func TestCorePushesAgentConfig(t *testing.T) {
	c := startCore(t, "")
	addr := c.addr()
	c.stop()
	// The same data and port again, now with an agent_config.
	cfgCore := startCoreAt(t, c, fmt.Sprintf("agent_config:\n  version: 3\n  interval: 2s\n  checks: [\"tcp://%s\"]\n  check_interval: 1s\n", addr))

	state := t.TempDir()
	agent := startAgent(t, cfgCore, "--state-dir", state, "--process-interval", "0")
	h := cfgCore.waitHost(t)

	latest := func(metric string) (apiv1.Point, bool) {
		var q apiv1.QueryResult
		v := url.Values{"host": {h.ID}, "metric": {metric}, "from": {"-2m"}}
		cfgCore.do(t, "GET", "/api/v1/query?"+v.Encode(), nil, &q)
		if len(q.Series) == 0 || len(q.Series[0].Points) == 0 {
			return apiv1.Point{}, false
		}
		return q.Series[0].Points[len(q.Series[0].Points)-1], true
	}
	waitFor(t, 30*time.Second, "the agent running config version 3", func() bool {
		p, ok := latest("esmon_agent_config_version")
		return ok && p.V == 3
	})
	waitFor(t, 30*time.Second, "the pushed TCP check reporting success", func() bool {
		p, ok := latest("check_success")
		return ok && p.V == 1
	})
	// Samples now come every 2 s.
	time.Sleep(7 * time.Second)
	var q apiv1.QueryResult
	v := url.Values{"host": {h.ID}, "metric": {"cpu_usage_percent"}, "from": {"-6s"}}
	cfgCore.do(t, "GET", "/api/v1/query?"+v.Encode(), nil, &q)
	if len(q.Series) != 1 || len(q.Series[0].Points) < 2 {
		t.Fatalf("cpu samples of the last 6 s: %+v", q)
	}
	pts := q.Series[0].Points
	for i := 1; i < len(pts); i++ {
		if d := pts[i].T - pts[i-1].T; d < 1500 || d > 2500 {
			t.Errorf("samples %d ms apart after the push, want about 2000: %+v", d, pts)
		}
	}

	// Restarted, the agent runs the kept config at once and tells the core,
	// which does not push it again.
	agent.stop()
	startAgent(t, cfgCore, "--state-dir", state, "--process-interval", "0")
	time.Sleep(5 * time.Second)
	if n := strings.Count(cfgCore.out.String(), "pushing config to agent"); n != 1 {
		t.Errorf("config pushed %d times, want once", n)
	}
	if p, ok := latest("esmon_agent_config_version"); !ok || p.V != 3 {
		t.Errorf("after the restart the agent runs config %v", p.V)
	}
}

// startCoreAt starts a core on the data directory and address of the
// stopped core c, with settings, and waits until it answers.
func startCoreAt(t *testing.T, c *coreProc, settings string) *coreProc {
	t.Helper()
	cfg := t.TempDir() + "/esmon.yaml"
	if err := writeFile(cfg, settings); err != nil {
		t.Fatal(err)
	}
	addr := c.addr()
	p := start(t, "esmon serve (agent config)", bins.core, "serve", "--data", c.data, "--listen", addr, "--config", cfg, "--log-level", "debug")
	n := &coreProc{proc: p, url: c.url, data: c.data, adminToken: c.adminToken, pin: c.pin, client: c.client}
	waitFor(t, 20*time.Second, "the core answering", func() bool {
		code, err := n.try("GET", "/healthz", nil, nil)
		return err == nil && code == 200
	})
	return n
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
