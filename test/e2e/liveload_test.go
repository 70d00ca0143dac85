package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestLiveLoadTool runs the dashboard load tool (test/liveload) against a
// real core with a real agent: every subscriber connects, gets the host's
// updates and the tool reports their delay.
func TestLiveLoadTool(t *testing.T) {
	c := startCore(t, "")
	startAgent(t, c)
	c.waitHost(t)

	tool := filepath.Join(bins.dir, "liveload")
	if out, err := exec.Command("go", "build", "-o", tool, "esmon/test/liveload").CombinedOutput(); err != nil {
		t.Fatalf("build liveload: %v\n%s", err, out)
	}
	out := filepath.Join(t.TempDir(), "result.json")
	const subscribers = 20
	args := append([]string{"--subscribers", "20", "--ramp", "100", "--duration", "5s", "--json", out}, c.liveloadArgs(t)...)
	p := start(t, "liveload", tool, args...)
	<-p.exited
	if p.cmd.ProcessState.ExitCode() != 0 {
		t.Fatalf("liveload failed:\n%s", p.out.String())
	}
	var r struct {
		Connected       int64   `json:"connected"`
		ConnectFailures int64   `json:"connect_failures"`
		Updates         int64   `json:"updates"`
		P99ms           float64 `json:"p99_ms"`
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	t.Logf("liveload:\n%s", p.out.String())
	if r.Connected != subscribers || r.ConnectFailures != 0 {
		t.Errorf("connected %d, failed %d; want %d and 0", r.Connected, r.ConnectFailures, subscribers)
	}
	// The agent reports every second: five seconds give each subscriber
	// a few updates.
	if r.Updates < subscribers*3 {
		t.Errorf("%d updates reached %d subscribers in 5 s; want at least %d", r.Updates, subscribers, subscribers*3)
	}
	if r.P99ms <= 0 {
		t.Errorf("p99 delay %v ms: the tool measured nothing", r.P99ms)
	}
}

// liveloadArgs are the flags that point the load tools at this core.
func (c *coreProc) liveloadArgs(t *testing.T) []string {
	return []string{"--core", c.url, "--token-file", filepath.Join(c.data, "admin.token"), "--fingerprint", c.pin}
}
