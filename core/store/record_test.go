package store

import (
	"math"
	"testing"
)

func TestSampleRecordRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		samples [][3]float64 // id, t, v
	}{
		{"one group", [][3]float64{{1, 100, 1.5}, {2, 100, -3}, {3, 100, 0}}},
		{"groups by time", [][3]float64{{1, 100, 1}, {1, 200, 2}, {2, 200, math.MaxFloat64}, {7, -5, math.SmallestNonzeroFloat64}}},
		{"big ids", [][3]float64{{1 << 40, 1, 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e sampleEncoder
			e.reset()
			for _, s := range tc.samples {
				e.add(uint64(s[0]), int64(s[1]), s[2])
			}
			var got [][3]float64
			if err := decodeSamples(e.record(), func(id uint64, ts int64, v float64) {
				got = append(got, [3]float64{float64(id), float64(ts), v})
			}); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.samples) {
				t.Fatalf("got %v", got)
			}
			for i := range got {
				if got[i] != tc.samples[i] {
					t.Fatalf("sample %d: %v, want %v", i, got[i], tc.samples[i])
				}
			}
		})
	}
}

// FuzzApplyRecord feeds arbitrary log records to a head: an error, never a
// panic.
func FuzzApplyRecord(f *testing.F) {
	var e sampleEncoder
	e.reset()
	e.add(0, 5, 1)
	f.Add(e.record())
	f.Add(appendSeriesEntry([]byte{recSeries}, 0, "m\x00host\x00a\x00"))
	f.Add(appendLatestRecord(nil, 0, 1, 2))
	f.Add(appendChunkRecord(nil, 0, true, 0, []byte{1, 0, 1, 8, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0}))
	f.Fuzz(func(t *testing.T, rec []byte) {
		db := &DB{}
		db.initHead()
		db.opts.defaults()
		db.addSeries(0, []byte("m\x00host\x00a\x00"))
		db.applyRecord(rec)
	})
}
