package e2e

import (
	"net"
	"testing"

	"esmon/core/apiv1"
)

// TestFailedCheckFires runs an agent with a TCP check against a loopback
// port nobody listens on: its check_success series reaches the core and a
// check_failed rule fires on it, then resolves when the rule is disabled.
func TestFailedCheckFires(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close() // now nothing listens there

	c := startCore(t, "")
	feed := c.subscribe(t)
	rule := apiv1.Rule{Name: "e2e check", Kind: apiv1.RuleCheckFailed, Severity: apiv1.SeverityCritical, Enabled: true}
	if code := c.do(t, "POST", "/api/v1/rules", rule, &rule); code != 201 {
		t.Fatalf("create check rule: status %d", code)
	}
	startAgent(t, c, "--checks", "tcp://"+closed, "--check-interval", "1s")

	fired := feed.transition(t, "e2e check", apiv1.StateFiring)
	if fired.Alert.Labels["check"] != "tcp://"+closed || fired.Value != 0 {
		t.Fatalf("firing transition: %+v", fired)
	}
	if code := c.do(t, "POST", "/api/v1/rules/"+rule.ID+"/disable", nil, nil); code != 200 && code != 204 {
		t.Fatalf("disable rule: status %d", code)
	}
	feed.transition(t, "e2e check", apiv1.StateResolved)
}
