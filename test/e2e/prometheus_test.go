package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"esmon/core/tlscert"
	"esmon/internal/testenv"
)

// TestPrometheusScrapesCore checks the core's own metrics the way an ops
// team would use them: promtool finds nothing wrong with the exposition, and
// a real Prometheus (Debian's package) scrapes the core and can answer
// queries on ingest, acknowledgement latency, connections, alert
// evaluation, notifications, store size and the Go runtime.
func TestPrometheusScrapesCore(t *testing.T) {
	promtool := testenv.LookPath(t, "promtool")
	prom := testenv.LookPath(t, "prometheus")

	c := startCore(t, "")
	startAgent(t, c)
	c.waitHost(t)

	body := c.scrape(t)
	// Every figure issue 10 names must be there, by the name dashboards use.
	for _, name := range []string{
		"esmon_ingested_samples_total",     // ingest rate
		"esmon_batch_ack_seconds_bucket",   // acknowledgement latency
		"esmon_agent_connections",          // connections
		"esmon_live_subscribers",           // dashboards
		"esmon_live_queued_events",         // queue depth, live feed
		"esmon_notify_queue_length",        // queue depth, notifications
		"esmon_store_pending_chunk_bytes",  // queue depth, store
		"esmon_alert_eval_seconds_bucket",  // alert evaluation time
		"esmon_notify_notifications_total", // notifications by channel, outcome
		"esmon_store_bytes",                // store size per tier
		"go_goroutines",                    // Go runtime
		"process_resident_memory_bytes",
	} {
		if !strings.Contains(body, "\n"+name) {
			t.Errorf("/metrics has no %s", name)
		}
	}

	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(body)
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}

	// A real Prometheus scraping the core every second.
	u, err := url.Parse(c.url)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	scrape := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: esmon
    scheme: %s
    static_configs:
      - targets: [%q]
%s`, u.Scheme, u.Host, c.promTLS(t))
	if err := os.WriteFile(cfg, []byte(scrape), 0o600); err != nil {
		t.Fatal(err)
	}
	listen := freeLoopbackAddr(t)
	start(t, "prometheus", prom, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+listen, "--log.level=warn")

	query := func(q string) (float64, bool) {
		resp, err := http.Get("http://" + listen + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return 0, false
		}
		defer resp.Body.Close()
		var r struct {
			Status string
			Data   struct {
				Result []struct {
					Value [2]any
				}
			}
		}
		if json.NewDecoder(resp.Body).Decode(&r) != nil || r.Status != "success" || len(r.Data.Result) == 0 {
			return 0, false
		}
		s, _ := r.Data.Result[0].Value[1].(string)
		var v float64
		_, err = fmt.Sscan(s, &v)
		return v, err == nil
	}
	waitFor(t, 30*time.Second, "Prometheus to scrape the core (up == 1)", func() bool {
		v, ok := query(`up{job="esmon"}`)
		return ok && v == 1
	})
	// The agent reports every second; Prometheus sees the core ingest.
	waitFor(t, 30*time.Second, "an ingest rate in Prometheus", func() bool {
		v, ok := query(`rate(esmon_ingested_samples_total[5s])`)
		return ok && v > 0
	})
	waitFor(t, 10*time.Second, "an acknowledgement latency quantile in Prometheus", func() bool {
		v, ok := query(`histogram_quantile(0.99, rate(esmon_batch_ack_seconds_bucket[10s]))`)
		return ok && v > 0
	})
	if v, ok := query(`esmon_agent_connections`); !ok || v != 1 {
		t.Errorf("esmon_agent_connections in Prometheus = %v (found %v), want 1", v, ok)
	}
}

// scrape returns the core's /metrics text.
func (c *coreProc) scrape(t *testing.T) string {
	t.Helper()
	resp, err := c.client.Get(c.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

// freeLoopbackAddr returns a loopback address with a port free right now.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// promTLS is the tls_config of Prometheus' scrape job: the core's own
// self-signed certificate is the CA Prometheus trusts, as an operator would
// set it up.
func (c *coreProc) promTLS(t *testing.T) string {
	return fmt.Sprintf("    tls_config:\n      ca_file: %q\n", filepath.Join(c.data, tlscert.CertFile))
}
