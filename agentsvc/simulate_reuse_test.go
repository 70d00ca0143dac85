package main

import (
	"context"
	"math"
	"testing"
	"time"

	"esmon/agentsvc/collect"
	"esmon/agentsvc/spool"
	"esmon/core/wire"
)

// TestSimulatedSnapshotsSurviveReuse checks the simulator's saving: each
// collection's samples go into the room of the one before, once the
// memory queue has taken them, and what the queue holds stays as it was
// collected.
func TestSimulatedSnapshotsSurviveReuse(t *testing.T) {
	src := newSimSource(1, 0)
	set := collect.NewSet(append(simMachine(src, 2, 0), newSimGauges(src.rng, 50))...)
	q := spool.NewMemory(10, 1)
	type sample struct {
		key   string
		value float64
	}
	var want [][]sample
	var buf []collect.Sample
	for range 4 {
		src.step(5 * time.Second)
		// The first has no CPU figures yet (no time passed between the
		// readings), which Collect reports; the simulator goes on.
		snap, _ := set.CollectInto(context.Background(), buf)
		var w []sample
		for _, s := range snap.Samples {
			w = append(w, sample{s.Key(), s.Value})
		}
		want = append(want, w)
		if _, err := q.Append(snap); err != nil {
			t.Fatal(err)
		}
		buf = snap.Samples
	}
	es, err := q.Read(0, 10)
	if err != nil || len(es) != len(want) {
		t.Fatalf("queue holds %d snapshots (%v), want %d", len(es), err, len(want))
	}
	for i, e := range es {
		if len(e.Values) != len(want[i]) {
			t.Fatalf("snapshot %d: %d samples queued, %d collected", i, len(e.Values), len(want[i]))
		}
		for j, v := range e.Values {
			got := sample{collect.Sample{Metric: e.Series[j].Metric, Labels: e.Series[j].Labels}.Key(), v}
			if got != want[i][j] {
				t.Fatalf("snapshot %d sample %d: queued %q=%v, collected %q=%v", i, j, got.key, got.value, want[i][j].key, want[i][j].value)
			}
		}
	}
	// The room is reused across snapshots of other sizes: the third has
	// no process scan.
	if len(want[2]) >= len(want[1]) || len(want[3]) != len(want[1]) {
		t.Errorf("samples per snapshot %d, %d, %d, %d: want the third without the process scan", len(want[0]), len(want[1]), len(want[2]), len(want[3]))
	}
}

// TestSinkAddLabels checks that the shared labels of the simulator's
// gauges get what Add gives: rounded percentages, no NaN, and a label
// value the core would refuse replaced in a copy.
func TestSinkAddLabels(t *testing.T) {
	var s collect.Sink
	ok := []wire.Label{{Name: "n", Value: "0001"}}
	bad := []wire.Label{{Name: "n", Value: "a\x00b"}}
	s.AddLabels("sim_gauge", 1.23456, ok)
	s.AddLabels("x_percent", 12.3456, ok)
	s.AddLabels("sim_gauge", math.NaN(), ok)
	s.AddLabels("sim_gauge", 2, bad)
	s.Add("sim_gauge", 2, "n", "a\x00b")
	got := s.Samples()
	if len(got) != 4 {
		t.Fatalf("%d samples, want 4 (NaN dropped)", len(got))
	}
	if got[0].Value != 1.23456 || &got[0].Labels[0] != &ok[0] {
		t.Errorf("a plain gauge: %+v, want its value and the shared labels", got[0])
	}
	if got[1].Value != 12.35 {
		t.Errorf("a percentage: %v, want 12.35", got[1].Value)
	}
	if got[2].Key() != got[3].Key() || got[2].Labels[0].Value != "ab" || bad[0].Value != "a\x00b" {
		t.Errorf("a label with NUL: AddLabels gave %q, Add %q, and the caller's labels are now %q", got[2].Labels[0].Value, got[3].Labels[0].Value, bad[0].Value)
	}
}
