package main

import (
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlotsFromCSV draws the four charts from a CSV with a column missing
// (an older scale.csv) and an empty cell, and checks each is a PNG that
// decodes to a chart-sized image with something drawn on it.
func TestPlotsFromCSV(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "scale.csv")
	data := `agents,dashboards,ingest_samples_per_s,expected_samples_per_s,ack_p50_ms,ack_p99_ms,core_ack_p50_ms,core_ack_p99_ms,live_p50_ms,live_p99_ms,core_rss_max_mb,go_heap_inuse_mb,kb_per_agent,kb_per_dashboard
100,10,1200,1200,3,40,2,25,1.2,30,140,90,120,60
1000,100,11900,12000,4,,3,60,2,80,400,300,38,22
10000,1000,98000,120000,30,900,20,240,50,2000,1900,1500,25,18
`
	if err := os.WriteFile(csv, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "png")
	var sb strings.Builder
	if err := run([]string{"--csv", csv, "--out", out, "--title", "test"}, &sb); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ingest.png", "latency.png", "memory.png", "per-conn.png"} {
		f, err := os.Open(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b := img.Bounds(); b.Dx() < 300 || b.Dy() < 200 {
			t.Errorf("%s: %dx%d", name, b.Dx(), b.Dy())
		}
		// Some pixel of the plotted lines' colours is on the page.
		found := false
		b := img.Bounds()
		for y := b.Min.Y; y < b.Max.Y && !found; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, g, bl, _ := img.At(x, y).RGBA()
				if r>>8 == 0xd6 && g>>8 == 0x27 && bl>>8 == 0x28 || r>>8 == 0x1f && g>>8 == 0x77 && bl>>8 == 0xb4 {
					found = true
					break
				}
			}
		}
		if !found {
			t.Errorf("%s: no line drawn", name)
		}
	}
	if !strings.Contains(sb.String(), "latency.png") {
		t.Errorf("output does not name the files: %q", sb.String())
	}
}

// TestPlotRejectsBadCSV: a CSV without an agents column is an error, not
// an empty chart.
func TestPlotRejectsBadCSV(t *testing.T) {
	csv := filepath.Join(t.TempDir(), "x.csv")
	os.WriteFile(csv, []byte("a,b\n1,2\n"), 0o644)
	err := run([]string{"--csv", csv, "--out", t.TempDir()}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "agents") {
		t.Fatalf("err = %v, want one naming the agents column", err)
	}
}
