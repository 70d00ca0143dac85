package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestLadderEndToEnd runs the scenario driver at a small scale with the
// real binaries on loopback (two steps, the restart at the second), then
// the plot program on its CSV, and checks what an operator reading the
// results would rely on: every agent and dashboard connected, the core
// stored what the agents sent, latencies and memory were measured, no
// sample was lost across the SIGKILL, and the PNGs are images.
func TestLadderEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real cores and load tools")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	bin, out := t.TempDir(), t.TempDir()
	var log bytes.Buffer
	if err := buildBinaries(ctx, bin, &log); err != nil {
		t.Fatalf("build: %v\n%s", err, log.String())
	}
	log.Reset()
	// liveload reads the core's memory after two garbage collections; a
	// core this small collects rarely (up to once in two minutes), so the
	// processes the driver starts collect at a lower heap growth.
	t.Setenv("GOGC", "10")
	steps := []int{20, 50}
	dashboards := []int{4, 10}
	err := run(ctx, []string{"--bin", bin, "--out", out, "--steps", "20,50", "--dashboards", "4,10",
		"--rules", "100", "--interval", "2s", "--settle", "3s", "--window", "6s", "--verify", "10"}, &log)
	t.Logf("driver output:\n%s", log.String())
	if err != nil {
		t.Fatalf("driver: %v", err)
	}

	rows := readCSV(t, filepath.Join(out, "scale.csv"))
	if len(rows) != len(steps) {
		t.Fatalf("scale.csv has %d rows, want %d", len(rows), len(steps))
	}
	for i, r := range rows {
		n := float64(steps[i])
		if r["agents"] != n || r["dashboards"] != float64(dashboards[i]) {
			t.Errorf("row %d: agents %v dashboards %v, want %v and %d", i, r["agents"], r["dashboards"], n, dashboards[i])
		}
		if r["agents_connected"] != n {
			t.Errorf("%v agents: core counted %v connected", n, r["agents_connected"])
		}
		if r["live_connected"] != float64(dashboards[i]) || r["live_dropped"] != 0 {
			t.Errorf("%v agents: %v of %d dashboards connected, %v dropped", n, r["live_connected"], dashboards[i], r["live_dropped"])
		}
		// Each agent sends its ~60 series every 2 s; the core must have
		// stored about that (the window is short: a wide band).
		if r["expected_samples_per_s"] < n*20 || r["ingest_ratio"] < 0.6 || r["ingest_ratio"] > 1.4 {
			t.Errorf("%v agents: ingest %v/s against %v/s expected (ratio %v)", n, r["ingest_samples_per_s"], r["expected_samples_per_s"], r["ingest_ratio"])
		}
		if r["verify_agents"] != 10 || r["verify_missing_points"] != 0 || r["verify_extra_points"] != 0 {
			t.Errorf("%v agents: stored points check: %v agents, %v missing, %v extra", n, r["verify_agents"], r["verify_missing_points"], r["verify_extra_points"])
		}
		for _, col := range []string{"ack_p50_ms", "ack_p99_ms", "core_ack_p99_ms", "live_p50_ms", "live_p99_ms", "live_updates_per_s",
			"core_rss_max_mb", "go_heap_inuse_mb", "open_fds", "core_cpu_pct"} {
			if v := r[col]; math.IsNaN(v) || v <= 0 {
				t.Errorf("%v agents: %s = %v, want a positive figure", n, col, v)
			}
		}
		// Memory per connection is a difference of two RSS readings: at
		// this scale it may come out at or below zero, but it is there.
		if math.IsNaN(r["kb_per_agent"]) || math.IsNaN(r["kb_per_dashboard"]) {
			t.Errorf("%v agents: memory per connection not measured: %v KB/agent, %v KB/dashboard", n, r["kb_per_agent"], r["kb_per_dashboard"])
		}
		if r["ack_p50_ms"] > r["ack_p99_ms"] || r["live_p50_ms"] > r["live_p99_ms"] {
			t.Errorf("%v agents: p50 above p99: ack %v/%v live %v/%v", n, r["ack_p50_ms"], r["ack_p99_ms"], r["live_p50_ms"], r["live_p99_ms"])
		}
		// One fd per agent connection at least.
		if r["open_fds"] < n {
			t.Errorf("%v agents: core has %v fds open", n, r["open_fds"])
		}
	}

	var rep struct {
		Restart *struct {
			AllBack       bool     `json:"all_back"`
			AllBackS      float64  `json:"all_back_s"`
			VerifyOK      float64  `json:"verify_ok"`
			VerifyMissing float64  `json:"verify_missing_points"`
			VerifyAcked   float64  `json:"verify_acked_snapshots"`
			HostsChecked  int      `json:"hosts_checked"`
			PointsChecked int      `json:"points_checked"`
			MissingPoints int      `json:"missing_points"`
			Gaps          []string `json:"hosts_with_gaps"`
			Error         string   `json:"error"`
		} `json:"restart"`
	}
	b, err := os.ReadFile(filepath.Join(out, "scale.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("scale.json: %v", err)
	}
	rs := rep.Restart
	switch {
	case rs == nil:
		t.Error("scale.json has no restart")
	case !rs.AllBack || rs.AllBackS <= 0 || rs.Error != "":
		t.Errorf("restart: all back %v after %v s, error %q", rs.AllBack, rs.AllBackS, rs.Error)
	case rs.VerifyOK != 1 || rs.VerifyMissing != 0 || rs.VerifyAcked <= 0:
		t.Errorf("restart: the agents' check: ok %v, %v missing of %v acknowledged", rs.VerifyOK, rs.VerifyMissing, rs.VerifyAcked)
	case rs.HostsChecked != 10 || rs.PointsChecked < 10*5 || rs.MissingPoints != 0:
		t.Errorf("restart: %d hosts, %d points checked, %d missing %v", rs.HostsChecked, rs.PointsChecked, rs.MissingPoints, rs.Gaps)
	}

	// The plots.
	pngs := t.TempDir()
	cmd := exec.CommandContext(ctx, "go", "run", "esmon/bench/plot", "--csv", filepath.Join(out, "scale.csv"), "--out", pngs)
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("plot: %v\n%s", err, o)
	}
	for _, name := range []string{"ingest.png", "latency.png", "memory.png", "per-conn.png"} {
		checkPNG(t, filepath.Join(pngs, name))
	}
}

// readCSV reads scale.csv into one map per row; empty cells are NaN.
func readCSV(t *testing.T, path string) []map[string]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var rows []map[string]float64
	for _, r := range recs[1:] {
		m := map[string]float64{}
		for i, h := range recs[0] {
			v, err := strconv.ParseFloat(r[i], 64)
			if err != nil {
				v = math.NaN()
			}
			m[h] = v
		}
		rows = append(rows, m)
	}
	return rows
}

// checkPNG decodes a PNG and checks it is a drawn chart: a sensible size,
// small enough to commit, and more than a blank page.
func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	bd := img.Bounds()
	if bd.Dx() < 300 || bd.Dy() < 200 || st.Size() > 200<<10 {
		t.Errorf("%s: %dx%d, %d bytes", path, bd.Dx(), bd.Dy(), st.Size())
	}
	colours := map[[4]uint32]bool{}
	for y := bd.Min.Y; y < bd.Max.Y; y += 3 {
		for x := bd.Min.X; x < bd.Max.X; x += 3 {
			r, g, b, a := img.At(x, y).RGBA()
			colours[[4]uint32{r, g, b, a}] = true
		}
	}
	if len(colours) < 4 {
		t.Errorf("%s: only %d colours: nothing drawn", path, len(colours))
	}
}
