package logfile

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"esmon/core/apiv1"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"ok", Config{Path: "/tmp/x.jsonl"}, ""},
		{"no path", Config{}, "path:"},
		{"negative size", Config{Path: "x", MaxSizeMB: -1}, "max_size_mb:"},
		{"bad severity", Config{Path: "x", MinSeverity: "x"}, "min_severity:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}

func lines(t *testing.T, path string) []apiv1.Transition {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []apiv1.Transition
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var tr apiv1.Transition
		if err := json.Unmarshal(sc.Bytes(), &tr); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, tr)
	}
	return out
}

// TestRotation writes far more than one file holds and checks that every
// line is valid JSON, that the newest lines are in the file, the older in
// .1 and .2, and that no more than MaxFiles rotated files are kept.
func TestRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts", "alerts.jsonl")
	ch, err := New(Config{Path: path, MaxSizeMB: 1, MaxFiles: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	big := strings.Repeat("x", 2000)
	const n = 1500 // about 3 MB
	for i := range n {
		tr := apiv1.Transition{Alert: apiv1.Alert{ID: fmt.Sprint(i), Summary: big}, To: apiv1.StateFiring}
		if _, err := ch.Notify(context.Background(), tr); err != nil {
			t.Fatal(err)
		}
	}
	cur, one, two := lines(t, path), lines(t, path+".1"), lines(t, path+".2")
	if _, err := os.Stat(path + ".3"); err == nil {
		t.Errorf("%s.3 kept with MaxFiles 2", path)
	}
	if last := cur[len(cur)-1].Alert.ID; last != fmt.Sprint(n-1) {
		t.Errorf("last line of the file is %s, want %d", last, n-1)
	}
	if got, want := one[len(one)-1].Alert.ID, fmt.Sprint(n-len(cur)-1); got != want {
		t.Errorf("last line of .1 is %s, want %s", got, want)
	}
	for _, p := range []string{path, path + ".1", path + ".2"} {
		fi, _ := os.Stat(p)
		if fi.Size() > 1<<20 {
			t.Errorf("%s is %d bytes, over 1 MB", p, fi.Size())
		}
	}
	if len(two) == 0 {
		t.Errorf(".2 is empty")
	}
}
