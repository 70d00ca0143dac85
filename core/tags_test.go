package core

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"esmon/core/apiv1"
	"esmon/core/store"
	"esmon/core/wire"
)

// TestHostTags: the tags an agent sends in its hello are the host's; a
// rule that matches "tag" fires for it; an admin's set through the API
// replaces them (and the rule follows), clearing it returns to the
// agent's, bad tags are refused naming the field, and the admin's set
// survives a restart and is matched from the first sample after it.
func TestHostTags(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	c, _ := newCore(t, dir)
	base := run(t, c)
	waitHealthy(t, base)
	admin := readToken(t, filepath.Join(dir, AdminTokenFile))
	id, cred, _ := enrolAgent(t, c)
	host, err := c.Hello(&wire.Hello{Version: wire.Version, AgentID: id, Token: cred, Host: wire.HostFacts{Hostname: "web-01"}, Tags: []string{"prod", "maximo"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.alerts.PutRule(apiv1.Rule{Name: "prod queue", Metric: "queue_depth", Threshold: 10, Severity: "critical",
		Enabled: true, Match: map[string]string{"tag": "prod"}}, true); err != nil {
		t.Fatal(err)
	}
	call := func(method, path string, body any, out any) int {
		t.Helper()
		var b bytes.Buffer
		if body != nil {
			json.NewEncoder(&b).Encode(body)
		}
		req, _ := http.NewRequest(method, base+path, &b)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil {
			json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode
	}
	sec := 0
	fires := func(c *Core) bool {
		t.Helper()
		sec++
		at := time.Now().Add(time.Duration(sec) * time.Second).UnixMilli()
		ls := store.Labels{{Name: "host", Value: host}}
		if err := c.Ingest(context.Background(), host, []store.Sample{{Metric: "queue_depth", Labels: ls, T: at, V: 50}}); err != nil {
			t.Fatal(err)
		}
		for _, a := range c.ActiveAlerts() {
			if a.RuleName == "prod queue" && a.Host == host && a.State == apiv1.StateFiring {
				return true
			}
		}
		return false
	}
	// Back below the threshold: the alert resolves, so the next step
	// starts clean.
	calm := func(c *Core) {
		sec++
		at := time.Now().Add(time.Duration(sec) * time.Second).UnixMilli()
		c.Ingest(context.Background(), host, []store.Sample{{Metric: "queue_depth", Labels: store.Labels{{Name: "host", Value: host}}, T: at, V: 0}})
	}

	steps := []struct {
		name      string
		method    string
		body      any
		wantCode  int
		wantTags  []string
		wantAdmin bool
		wantFires bool
	}{
		{"the agent's tags", "", nil, 0, []string{"maximo", "prod"}, false, true},
		{"an admin's set replaces them", "PUT", apiv1.HostTags{Tags: []string{"dev"}}, http.StatusOK, []string{"dev"}, true, false},
		{"a bad tag is refused", "PUT", apiv1.HostTags{Tags: []string{"no spaces"}}, http.StatusBadRequest, []string{"dev"}, true, false},
		{"clearing returns to the agent's", "DELETE", nil, http.StatusOK, []string{"maximo", "prod"}, false, true},
		{"an admin tags it prod only", "PUT", apiv1.HostTags{Tags: []string{"prod"}}, http.StatusOK, []string{"prod"}, true, true},
	}
	for _, st := range steps {
		if st.method != "" {
			var e apiv1.Error
			if code := call(st.method, "/api/v1/hosts/"+host+"/tags", st.body, &e); code != st.wantCode {
				t.Fatalf("%s: HTTP %d (%s), want %d", st.name, code, e.Error, st.wantCode)
			}
		}
		var h apiv1.Host
		call("GET", "/api/v1/hosts/"+host, nil, &h)
		if !slices.Equal(h.Tags, st.wantTags) || h.TagsByAdmin != st.wantAdmin {
			t.Fatalf("%s: host tags %q by admin %v, want %q by admin %v", st.name, h.Tags, h.TagsByAdmin, st.wantTags, st.wantAdmin)
		}
		if got := fires(c); got != st.wantFires {
			t.Fatalf("%s: rule on tag prod fires %v, want %v", st.name, got, st.wantFires)
		}
		calm(c)
	}
	if code := call("PUT", "/api/v1/hosts/nope/tags", apiv1.HostTags{Tags: []string{"a"}}, nil); code != http.StatusNotFound {
		t.Errorf("tags of an unknown host: HTTP %d, want 404", code)
	}
	c.Stop()

	c2, _ := newCore(t, dir)
	defer c2.Stop()
	if h := c2.Hosts(); len(h) != 1 || !slices.Equal(h[0].Tags, []string{"prod"}) || !h[0].TagsByAdmin {
		t.Fatalf("after restart: %+v", h)
	}
	if !fires(c2) {
		t.Error("after restart the tag rule does not match the host's first sample")
	}
}
