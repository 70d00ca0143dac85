package jmx

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"esmon/agentsvc/collect"
)

// TestAdd checks what the Collector makes of a bridge's answer: labels in a
// fixed order with jvm first, the derived heap percentage, and samples the
// core would refuse left out with an error.
func TestAdd(t *testing.T) {
	allowed := map[string]bool{"jvm_memory_heap_used_bytes": true, "jvm_memory_heap_max_bytes": true, "pool_threads": true}
	for _, tt := range []struct {
		name    string
		resp    response
		want    []string // series keys, in order
		percent float64  // jvm_heap_used_percent, 0 when absent
		err     string
	}{
		{
			name: "labels sorted after jvm",
			resp: response{Samples: []sample{{Metric: "pool_threads", Labels: map[string]string{"pool": "web", "cell": "c1"}, Value: 3}}},
			want: []string{`pool_threads{jvm="j",cell="c1",pool="web"}`},
		},
		{
			name: "heap percent",
			resp: response{Samples: []sample{{Metric: "jvm_memory_heap_used_bytes", Value: 25}, {Metric: "jvm_memory_heap_max_bytes", Value: 200}}},
			want: []string{`jvm_memory_heap_used_bytes{jvm="j"}`, `jvm_memory_heap_max_bytes{jvm="j"}`, `jvm_heap_used_percent{jvm="j"}`}, percent: 12.5,
		},
		{
			name: "no percent without max",
			resp: response{Samples: []sample{{Metric: "jvm_memory_heap_used_bytes", Value: 25}}},
			want: []string{`jvm_memory_heap_used_bytes{jvm="j"}`},
		},
		{
			name: "metric not asked for",
			resp: response{Samples: []sample{{Metric: "other", Value: 1}, {Metric: "pool_threads", Value: 2}}},
			want: []string{`pool_threads{jvm="j"}`}, err: `unexpected sample "other" from the bridge`,
		},
		{
			name: "label the core refuses",
			resp: response{Samples: []sample{{Metric: "pool_threads", Labels: map[string]string{"host": "x"}, Value: 1}, {Metric: "pool_threads", Labels: map[string]string{"a-b": "x"}, Value: 1}}},
			err:  "unexpected sample",
		},
		{
			name: "query errors, the first few named",
			resp: response{Errors: []string{"e1", "e2", "e3", "e4", "e5"}},
			err:  "e1; e2; e3 (and 2 more)",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var s collect.Sink
			c := &Collector{}
			err := c.add(&s, "j", allowed, &tt.resp)
			var keys []string
			var percent float64
			for _, sm := range s.Samples() {
				keys = append(keys, seriesKey(sm))
				if sm.Metric == "jvm_heap_used_percent" {
					percent = sm.Value
				}
			}
			if strings.Join(keys, " ") != strings.Join(tt.want, " ") {
				t.Errorf("series = %v, want %v", keys, tt.want)
			}
			if percent != tt.percent {
				t.Errorf("heap percent = %v, want %v", percent, tt.percent)
			}
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("error: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("error = %v, want %q", err, tt.err)
			}
		})
	}
}

// TestWriteJar writes the embedded jar into the state directory once, under
// a name that carries its hash, and removes other versions. An agent built
// without the jar says how to build it.
func TestWriteJar(t *testing.T) {
	embedded, err := fs.ReadFile(dist, "dist/"+jarFile)
	dir := t.TempDir()
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := writeJar(dir); !errors.Is(err, ErrNoBridge) {
			t.Fatalf("without the jar: %v, want ErrNoBridge", err)
		}
		t.Skip("dist/esmon-jmx.jar not built (make jmx-bridge builds it): checked only the error")
	}
	old := filepath.Join(dir, "jmx", "esmon-jmx-0000000000000000.jar")
	os.MkdirAll(filepath.Dir(old), 0o700)
	os.WriteFile(old, []byte("old"), 0o600)
	path, err := writeJar(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != string(embedded) || !strings.HasPrefix(filepath.Base(path), "esmon-jmx-") {
		t.Fatalf("wrote %s with %d bytes, want %d", path, len(got), len(embedded))
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("old jar still there: %v", err)
	}
	again, err := writeJar(dir)
	if err != nil || again != path {
		t.Errorf("second write: %s, %v", again, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("jmx directory holds %d files, want 1", len(entries))
	}
}
