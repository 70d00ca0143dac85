package main

import (
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"time"
)

// num is a figure that may be unknown (NaN): null in JSON, empty in CSV.
type num float64

func (n num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'f', -1, 64), nil
}

func (n num) csv() string {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return ""
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// stepResult is one row of scale.csv: what one step measured. The csv tag
// names the column; bench/plot reads columns by these names.
type stepResult struct {
	Agents     int `json:"agents" csv:"agents"`
	Dashboards int `json:"dashboards" csv:"dashboards"`
	// Load1 is the machine's 1-minute load average at the end of the
	// window (2 cores; other work shares the machine).
	Load1   num `json:"load1" csv:"load1"`
	WindowS num `json:"window_s" csv:"window_s"`
	// ConnectS is the time from starting the simulator (enrolment of
	// every agent included) until the core counted every agent connected.
	ConnectS num `json:"connect_s" csv:"connect_s"`

	// Ingest: the core's esmon_ingested_samples_total rate over the
	// window, against the rate the agents produce (N × samples per
	// snapshot / interval; samples per snapshot from simulate's JSON when
	// it has them, else from the core's samples per batch).
	IngestPerS      num    `json:"ingest_samples_per_s" csv:"ingest_samples_per_s"`
	ExpectedPerS    num    `json:"expected_samples_per_s" csv:"expected_samples_per_s"`
	ExpectedFrom    string `json:"expected_from" csv:"-"`
	IngestRatio     num    `json:"ingest_ratio" csv:"ingest_ratio"`
	BatchesPerS     num    `json:"batches_per_s" csv:"batches_per_s"`
	SnapshotsPerS   num    `json:"expected_batches_per_s" csv:"expected_batches_per_s"`
	AgentsConnected num    `json:"agents_connected" csv:"agents_connected"`
	SimQueued       num    `json:"sim_queued_snapshots" csv:"sim_queued_snapshots"`
	SimDropped      num    `json:"sim_dropped" csv:"sim_dropped"`
	SimReconnects   num    `json:"sim_reconnects" csv:"sim_reconnects"`
	StoreSeries     num    `json:"store_series" csv:"store_series"`
	// The simulator's check at the end of the step: stored points of
	// some agents against the snapshots the core acknowledged.
	VerifyChecked num `json:"verify_agents" csv:"verify_agents"`
	VerifyMissing num `json:"verify_missing_points" csv:"verify_missing_points"`
	VerifyExtra   num `json:"verify_extra_points" csv:"verify_extra_points"`
	AlertsActive  num `json:"alerts_active" csv:"alerts_active"`

	// Acknowledgement latency: as the agents measured it (simulate's
	// JSON: the whole run after the settle, and the window alone, which
	// the driver marks with SIGUSR1 and SIGUSR2) and from the core's
	// esmon_batch_ack_seconds histogram over the window (receive to ack
	// queued; interpolated in its buckets).
	AckP50Ms       num `json:"ack_p50_ms" csv:"ack_p50_ms"`
	AckP99Ms       num `json:"ack_p99_ms" csv:"ack_p99_ms"`
	AckMaxMs       num `json:"ack_max_ms" csv:"ack_max_ms"`
	AckWindowP50Ms num `json:"ack_window_p50_ms" csv:"ack_window_p50_ms"`
	AckWindowP99Ms num `json:"ack_window_p99_ms" csv:"ack_window_p99_ms"`
	CoreAckP50Ms   num `json:"core_ack_p50_ms" csv:"core_ack_p50_ms"`
	CoreAckP99Ms   num `json:"core_ack_p99_ms" csv:"core_ack_p99_ms"`

	// Live updates: liveload's delay from the core applying a batch to a
	// subscriber reading it.
	LiveP50Ms       num `json:"live_p50_ms" csv:"live_p50_ms"`
	LiveP99Ms       num `json:"live_p99_ms" csv:"live_p99_ms"`
	LiveMaxMs       num `json:"live_max_ms" csv:"live_max_ms"`
	LiveUpdatesPerS num `json:"live_updates_per_s" csv:"live_updates_per_s"`
	LiveConnected   num `json:"live_connected" csv:"live_connected"`
	LiveDropped     num `json:"live_dropped" csv:"live_dropped"`
	LiveLoadP99Ms   num `json:"live_load_p99_ms" csv:"live_load_p99_ms"` // dial to snapshot: a page loading

	// Core process.
	CoreCPUPct  num `json:"core_cpu_pct" csv:"core_cpu_pct"` // of one core
	SimCPUPct   num `json:"sim_cpu_pct" csv:"sim_cpu_pct"`
	LiveCPUPct  num `json:"liveload_cpu_pct" csv:"liveload_cpu_pct"`
	BaseRSSMB   num `json:"core_rss_base_mb" csv:"core_rss_base_mb"`     // rules, no agents
	AgentsRSSMB num `json:"core_rss_agents_mb" csv:"core_rss_agents_mb"` // agents settled, no dashboards
	RSSAvgMB    num `json:"core_rss_avg_mb" csv:"core_rss_avg_mb"`       // over the window
	RSSMaxMB    num `json:"core_rss_max_mb" csv:"core_rss_max_mb"`
	HWMMB       num `json:"core_rss_hwm_mb" csv:"core_rss_hwm_mb"` // VmHWM at the end
	HeapInuseMB num `json:"go_heap_inuse_mb" csv:"go_heap_inuse_mb"`
	GoSysMB     num `json:"go_sys_mb" csv:"go_sys_mb"`
	Goroutines  num `json:"goroutines" csv:"goroutines"`
	FDs         num `json:"open_fds" csv:"open_fds"`
	Threads     num `json:"threads" csv:"threads"`
	KBPerAgent  num `json:"kb_per_agent" csv:"kb_per_agent"` // (RSS agents − RSS base) / N
	// KBPerAgentMarginal is the slope from the step before: (RSS with
	// agents here − there) / (N here − there). Each step's core is fresh
	// with the same rules, so the base cancels out, and so does the
	// garbage the rule creation leaves (which makes the per-step figure
	// unreliable at small N).
	KBPerAgentMarginal num    `json:"kb_per_agent_marginal" csv:"kb_per_agent_marginal"`
	HeapKBPerAg        num    `json:"heap_kb_per_agent" csv:"heap_kb_per_agent"` // same with Go heap in use
	KBPerDash          num    `json:"kb_per_dashboard" csv:"kb_per_dashboard"`   // liveload's RSS delta / connected
	Error              string `json:"error,omitempty" csv:"-"`
}

// restartResult is what the restart under load measured.
type restartResult struct {
	Agents          int       `json:"agents"`
	ConnectedAtKill int       `json:"connected_at_kill"`
	Killed          time.Time `json:"killed_at"`
	// CoreUpS is from SIGKILL to the new core answering /healthz;
	// AllBackS to the core counting every agent connected again.
	CoreUpS  num  `json:"core_up_s"`
	AllBackS num  `json:"all_back_s"`
	AllBack  bool `json:"all_back"`
	// What the agents said, if simulate's JSON has it: their own time
	// until all were connected again, snapshots dropped from full
	// queues, reconnections, and their check of the stored points
	// against the snapshots the core acknowledged (VerifyOK 1 or 0).
	SimAllBackS   num `json:"sim_all_connected_after_s"`
	SimDropped    num `json:"sim_dropped"`
	SimReconnects num `json:"sim_reconnects"`
	SimAckP99Ms   num `json:"sim_ack_p99_ms"`
	VerifyOK      num `json:"verify_ok"`
	VerifyChecked num `json:"verify_agents"`
	VerifyMatched num `json:"verify_matched"`
	VerifyAcked   num `json:"verify_acked_snapshots"`
	VerifyStored  num `json:"verify_stored_points"`
	VerifyMissing num `json:"verify_missing_points"`
	VerifyExtra   num `json:"verify_extra_points"`
	// The driver's own loss check: for each checked host, the points of
	// cpu_usage_percent (one per snapshot) from before the kill to after
	// the replay; a step between two points longer than 1.5 intervals is
	// a gap, and round(step/interval)−1 points are counted missing,
	// unless the simulator reports that gap as collections it skipped
	// for falling behind (never made, so never sent): those are counted
	// in SkippedPoints.
	HostsChecked   int      `json:"hosts_checked"`
	PointsChecked  int      `json:"points_checked"`
	MissingPoints  int      `json:"missing_points"`
	HostsWithGaps  []string `json:"hosts_with_gaps,omitempty"`
	SkippedPoints  int      `json:"skipped_points"`
	CheckFrom      string   `json:"check_from"`
	CheckTo        string   `json:"check_to"`
	SamplesPreKill num      `json:"core_samples_before_kill"`
	SamplesAfter   num      `json:"core_samples_after_restart"`
	Error          string   `json:"error,omitempty"`

	core *coreProc // the restarted core
}

// report is scale.json.
type report struct {
	Started   time.Time      `json:"started"`
	Finished  time.Time      `json:"finished"`
	Machine   string         `json:"machine"`
	Command   string         `json:"command"`
	Rules     int            `json:"rules"`
	IntervalS float64        `json:"interval_s"`
	SettleS   float64        `json:"settle_s"`
	WindowS   float64        `json:"window_s"`
	Series    int            `json:"series_per_agent"`
	Tools     string         `json:"tools"` // what the load tools supported
	Steps     []stepResult   `json:"steps"`
	Restart   *restartResult `json:"restart,omitempty"`
}

func (r *report) write(dir string) error {
	if err := writeJSONFile(filepath.Join(dir, "scale.json"), r); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "scale.csv.tmp"))
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	t := reflect.TypeFor[stepResult]()
	var head []string
	for i := range t.NumField() {
		if c := t.Field(i).Tag.Get("csv"); c != "" && c != "-" {
			head = append(head, c)
		}
	}
	w.Write(head)
	for _, s := range r.Steps {
		v := reflect.ValueOf(s)
		var row []string
		for i := range t.NumField() {
			if c := t.Field(i).Tag.Get("csv"); c == "" || c == "-" {
				continue
			}
			switch x := v.Field(i).Interface().(type) {
			case num:
				row = append(row, x.csv())
			case int:
				row = append(row, strconv.Itoa(x))
			case string:
				row = append(row, x)
			}
		}
		w.Write(row)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(filepath.Join(dir, "scale.csv.tmp"), filepath.Join(dir, "scale.csv"))
}

func (r *restartResult) fromSim(s simFigures) {
	r.SimAllBackS, r.SimDropped, r.SimReconnects, r.SimAckP99Ms = num(s.AllConnectedAfterS), num(s.Dropped), num(s.Reconnects), num(s.AckP99)
	r.VerifyOK, r.VerifyChecked, r.VerifyMatched = num(s.VerifyOK), num(s.VerifyChecked), num(s.VerifyMatched)
	r.VerifyAcked, r.VerifyStored, r.VerifyMissing, r.VerifyExtra = num(s.VerifyAcked), num(s.VerifyStored), num(s.VerifyMissing), num(s.VerifyExtra)
}
