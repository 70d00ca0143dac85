package collect

import (
	"context"
	"testing"

	"github.com/shirou/gopsutil/v4/mem"
)

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name string
		line string
		want ProcessInfo
		ok   bool
	}{
		{"plain", "1234 (java) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 40 0 100 4000000000 2560 18446744073709551615",
			ProcessInfo{Name: "java", CPUSeconds: 3, RSSBytes: 2560 * 4096}, true},
		{"name with spaces and parentheses", "77 (tmux: server (1)) R 1 77 77 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 5 100 10 0",
			ProcessInfo{Name: "tmux: server (1)", CPUSeconds: 0.1, RSSBytes: 10 * 4096}, true},
		{"cut short", "5 (x) S 1 2 3", ProcessInfo{}, false},
		{"no name", "5 x S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22", ProcessInfo{}, false},
		{"not numbers", "5 (x) S 1 1 1 0 -1 0 0 0 0 0 a b 0 0 20 0 1 0 5 100 10 0", ProcessInfo{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseProcStat([]byte(tt.line), 4096)
			if ok != tt.ok || got != tt.want {
				t.Errorf("got %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestSwapFromMeminfo checks the lean swap reading against gopsutil's own.
func TestSwapFromMeminfo(t *testing.T) {
	got, err := System{}.SwapMemory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want, err := mem.SwapMemory()
	if err != nil {
		t.Fatal(err)
	}
	if got.Total != want.Total || got.Used > got.Total {
		t.Errorf("swap %+v, gopsutil says total %d", got, want.Total)
	}
}

// FuzzParseProcStat feeds parseProcStat any bytes: it must not panic, and
// what it accepts has the name between the first '(' and the last ')'.
func FuzzParseProcStat(f *testing.F) {
	f.Add([]byte("1234 (java) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 40 0 100 4000000000 2560 0"))
	f.Add([]byte("7 ((x)) R"))
	f.Add([]byte(")("))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, ok := parseProcStat(b, 4096)
		if ok && p.CPUSeconds < 0 {
			t.Fatalf("negative CPU time from %q", b)
		}
	})
}
