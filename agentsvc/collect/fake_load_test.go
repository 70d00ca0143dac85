//go:build !windows

package collect

import (
	"context"
	"testing"

	"github.com/shirou/gopsutil/v4/load"
)

type fakeLoad struct{ avg *load.AvgStat }

func (f fakeLoad) Load(context.Context) (*load.AvgStat, error) { return f.avg, nil }

func TestLoad(t *testing.T) {
	src := &fakeSource{fakeLoad: fakeLoad{&load.AvgStat{Load1: 1.5, Load5: 1, Load15: 0.5}}}
	var s Sink
	if err := (&Load{Source: src}).Collect(context.Background(), &s); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"load_average_1m": 1.5, "load_average_5m": 1, "load_average_15m": 0.5}
	got := values(s.Samples())
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
