package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"esmon/agentsvc/collect"
)

// A simulated machine's top processes are mostly the same from one scan to
// the next, as a real machine's are: over an hour its distinct series stay
// near what one snapshot sends. (With every process drawn alike at every
// scan, the top ten were a fresh pick each time, and an agent had defined
// 90 to 250 series after five minutes where the scenario wants about 60.)
func TestSimulatedSeriesStayFew(t *testing.T) {
	for i := range 20 {
		src := newSimSource(7, i)
		set := collect.NewSet(simMachine(src, 6, 0)...) // processes every 30 s
		seen := map[string]bool{}
		most := 0
		for n := range 720 { // an hour at 5 s
			src.step(5 * time.Second)
			snap, err := set.Collect(context.Background())
			if err != nil && n > 0 { // the CPU figures need two readings
				t.Fatal(err)
			}
			most = max(most, len(snap.Samples))
			for _, s := range snap.Samples {
				var k strings.Builder
				k.WriteString(s.Metric)
				for _, l := range s.Labels {
					k.WriteString("\x00" + l.Name + "\x00" + l.Value)
				}
				seen[k.String()] = true
			}
		}
		if len(seen) > most*3/2 {
			t.Errorf("agent %d: %d series in an hour, %d in its largest snapshot", i, len(seen), most)
		}
	}
}
