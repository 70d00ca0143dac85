package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"esmon/agentsvc/link"
	"esmon/core/wire"
)

// verifyMetric is the series --verify counts: every snapshot of a virtual
// agent holds exactly one value of it.
const verifyMetric = wire.MemoryUsedBytes

// verifyResult is what --verify found.
type verifyResult struct {
	Metric  string `json:"metric"`
	Checked int    `json:"checked"` // agents checked
	Matched int    `json:"matched"` // agents whose stored points equal their acknowledged snapshots
	// Acked and Stored are the sums over the checked agents.
	Acked  uint64 `json:"acked_snapshots"`
	Stored uint64 `json:"stored_points"`
	// Missing counts acknowledged snapshots the core does not have; Extra
	// points it has beyond what was sent (stored twice).
	Missing uint64        `json:"missing_points"`
	Extra   uint64        `json:"extra_points"`
	OK      bool          `json:"ok"`
	Problem string        `json:"problem,omitempty"`
	Bad     []verifyAgent `json:"mismatches,omitempty"` // the first few
}

// verifyAgent is one checked agent whose points do not match.
type verifyAgent struct {
	Host    string `json:"host"`
	Acked   uint64 `json:"acked"`
	Queued  int    `json:"queued"`
	Dropped uint64 `json:"dropped"`
	Stored  uint64 `json:"stored"`
}

func (v *verifyResult) line() string {
	s := fmt.Sprintf("verify %s: %d agents checked, %d match; acknowledged snapshots %d, stored points %d, missing %d, extra %d",
		v.Metric, v.Checked, v.Matched, v.Acked, v.Stored, v.Missing, v.Extra)
	if v.Problem != "" {
		s += ": " + v.Problem
	}
	return s
}

// verify asks the core's /api/v1/query, for n agents spread over the fleet,
// how many points of verifyMetric it stored since the agent's first
// snapshot, and compares that with the snapshots the core acknowledged. A
// snapshot still queued may be stored or not; a dropped one was never
// sent.
func (f *fleet) verify(ctx context.Context, core, token string, tlsCfg *tls.Config, n int) *verifyResult {
	v := &verifyResult{Metric: verifyMetric}
	api, err := apiURL(core)
	if err != nil {
		v.Problem = err.Error()
		return v
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	n = min(n, len(f.agents))
	now := time.Now()
	for k := range n {
		a := f.agents[k*len(f.agents)/n]
		st := a.link.Status()
		first := a.firstMS.Load()
		if st.HostID == "" || first == 0 {
			v.Problem = cmpOrString(v.Problem, fmt.Sprintf("agent %s never connected or never collected", a.id.AgentID))
			continue
		}
		if now.Sub(time.UnixMilli(first)) > 3*time.Hour {
			v.Problem = cmpOrString(v.Problem, "the run is longer than the 3 hours of raw points one query returns")
			break
		}
		stored, err := countPoints(ctx, client, api, token, st.HostID, first, now.Add(time.Minute))
		if err != nil {
			v.Problem = cmpOrString(v.Problem, err.Error())
			break
		}
		// Snapshots are numbered from 1; those up to LastAck were acknowledged,
		// but the dropped ones among them were never sent.
		acked := st.LastAck - min(st.LastAck, st.Dropped)
		v.Checked++
		v.Acked += acked
		v.Stored += stored
		switch {
		case stored < acked:
			v.Missing += acked - stored
		case stored > acked+uint64(st.Queued):
			v.Extra += stored - acked - uint64(st.Queued)
		default:
			v.Matched++
			continue
		}
		if len(v.Bad) < 10 {
			v.Bad = append(v.Bad, verifyAgent{Host: st.HostID, Acked: acked, Queued: st.Queued, Dropped: st.Dropped, Stored: stored})
		}
	}
	if v.Checked < n || v.Matched < v.Checked {
		v.Problem = cmpOrString(v.Problem, fmt.Sprintf("%d of %d agents checked do not match", v.Checked-v.Matched, v.Checked))
	}
	v.OK = v.Problem == "" && v.Checked == n && v.Matched == n
	return v
}

func cmpOrString(s, other string) string {
	if s != "" {
		return s
	}
	return other
}

// apiURL turns the core address into its API base URL.
func apiURL(core string) (*url.URL, error) {
	ws, err := link.CoreURL(core)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(ws)
	if err != nil {
		return nil, err
	}
	u.Scheme = map[string]string{"ws": "http", "wss": "https"}[u.Scheme]
	u.Path = strings.TrimSuffix(u.Path, wire.Path)
	return u, nil
}

// countPoints returns how many raw points of verifyMetric the core has for
// host from fromMS to to.
func countPoints(ctx context.Context, client *http.Client, api *url.URL, token, host string, fromMS int64, to time.Time) (uint64, error) {
	u := *api
	u.Path += "/api/v1/query"
	q := url.Values{}
	q.Set("host", host)
	q.Set("metric", verifyMetric)
	q.Set("from", strconv.FormatFloat(float64(fromMS)/1000, 'f', 3, 64))
	q.Set("to", strconv.FormatInt(to.Unix(), 10))
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("query the core: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, fmt.Errorf("query the core: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("query the core: HTTP %s: %.200s", resp.Status, body)
	}
	var out struct {
		Tier   string `json:"tier"`
		Series []struct {
			Points []json.RawMessage `json:"points"`
		} `json:"series"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return 0, fmt.Errorf("query the core: %w", err)
	}
	if out.Tier != "" && out.Tier != "raw" {
		return 0, fmt.Errorf("query the core: answered from tier %s, not raw points", out.Tier)
	}
	var n uint64
	for _, s := range out.Series {
		n += uint64(len(s.Points))
	}
	return n, nil
}
