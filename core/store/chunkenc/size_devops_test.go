package chunkenc_test

import (
	"encoding/binary"
	"sort"
	"testing"
	"time"

	"esmon/core/store/chunkenc"
	"esmon/core/store/dataset"
)

// TestDevopsHourSize codes one hour of ten devops hosts (102 series each,
// 10 s with ±20 ms jitter) and bounds the bytes per sample before block
// compression. The first format took 3.74 (values 2.60); the timestamp
// sections, alike for every series of a host, are mostly stored once by
// Badger's block compression, so the values are what the disk sees.
func TestDevopsHourSize(t *testing.T) {
	const hosts, steps = 10, 360
	fleet := dataset.NewFleet(hosts, time.Unix(1_700_000_000, 0), 10*time.Second, 20*time.Millisecond, 1)
	per := dataset.SeriesPerHost()
	chunks := make([][]chunkenc.Chunk, hosts)
	for h := range chunks {
		chunks[h] = make([]chunkenc.Chunk, per)
	}
	names := make([]string, per)
	for range steps {
		for h, b := range fleet.Next() {
			for i, s := range b {
				chunks[h][i].Append(s.T, s.V)
				names[i] = s.Metric
			}
		}
	}
	byMetric := map[string]int{}
	total, ts := 0, 0
	for h := range chunks {
		for i := range chunks[h] {
			b := chunks[h][i].Bytes()
			n, _ := binary.Uvarint(b[3:])
			byMetric[names[i]] += len(b)
			total += len(b)
			ts += int(n)
		}
	}
	samples := float64(hosts * steps * per)
	metrics := make([]string, 0, len(byMetric))
	for m := range byMetric {
		metrics = append(metrics, m)
	}
	sort.Slice(metrics, func(i, j int) bool { return byMetric[metrics[i]] > byMetric[metrics[j]] })
	for _, m := range metrics {
		t.Logf("%-45s %5.2f bytes/sample", m, float64(byMetric[m])/(hosts*steps))
	}
	t.Logf("all: %.3f bytes/sample, of which timestamps %.3f", float64(total)/samples, float64(ts)/samples)
	tests := []struct {
		name string
		got  float64
		max  float64
	}{
		{"whole chunks", float64(total) / samples, 2.95},
		{"values", float64(total-ts) / samples, 2.0},
	}
	for _, tc := range tests {
		if tc.got > tc.max {
			t.Errorf("%s: %.3f bytes/sample, want at most %.2f", tc.name, tc.got, tc.max)
		}
	}
}
