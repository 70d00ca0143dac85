package chunkenc

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
)

// TestSharedTimesChangeNothing appends the snapshots of a host to chunks
// that share one Times, with the ways a real host parts from its own
// timestamps: a series that misses snapshots, one that starts late, one
// sampled at its own times, one that skips a snapshot and comes back, two
// sampled together at another cadence (and a third at yet another), and
// regular and jittered clocks. Every chunk must serialise, seal and
// report its last sample byte for byte as a chunk of its own fed the same
// samples, after every snapshot (so also while others are ahead of it).
// Sealing at every check also reseals the shared Times at a later length
// each time (its gridded timestamps are worked out once a length).
func TestSharedTimesChangeNothing(t *testing.T) {
	for _, jitter := range []int64{0, 30} {
		for seed := range uint64(20) {
			rng := rand.New(rand.NewPCG(seed, uint64(jitter)))
			const series, snaps = 12, 300
			tm := NewTimes()
			shared := make([]Chunk, series)
			alone := make([]Chunk, series)
			vals := make([]float64, series)
			for i := range shared {
				shared[i].ShareTimes(tm)
			}
			for k := range snaps {
				at := 1_700_000_000_000 + int64(k)*5000
				if jitter > 0 {
					at += rng.Int64N(jitter)
				}
				for i := range series {
					ts := at
					switch {
					case i == 1 && k%7 == 3: // misses some snapshots
						continue
					case i == 2 && k < 40: // starts late
						continue
					case i == 3: // its own clock
						ts = at + 1 + int64(i)
					case i == 4 && rng.IntN(50) == 0: // skips now and then
						continue
					case i == 5 && k == snaps/2: // one sample a little late
						ts = at + 2
					case (i == 7 || i == 8) && k%6 != 2: // sampled at another cadence, together
						continue
					case i == 9 && k%6 != 2 && k%6 != 3: // and at a third
						continue
					}
					switch i % 3 {
					case 0:
						vals[i] = math.Round((vals[i]+rng.Float64()*2-1)*100) / 100
					case 1:
						vals[i] += float64(rng.IntN(1000))
					case 2:
						vals[i] = 7
					}
					if rng.IntN(400) == 0 { // and a value that recodes
						vals[i] = rng.Float64()
					}
					if shared[i].Append(ts, vals[i]) != alone[i].Append(ts, vals[i]) {
						t.Fatalf("append of series %d at snapshot %d differs", i, k)
					}
				}
				if shared[0].times != tm || shared[6].times != tm || (jitter == 0 && shared[5].times != tm && k < snaps/2) {
					t.Fatalf("series that keep the host's times do not share them at snapshot %d", k)
				}
				// Series that part from the host's times at the same
				// place share what they parted to.
				if k >= 8 && (shared[7].times == tm || shared[7].times != shared[8].times || shared[9].times == shared[7].times) {
					t.Fatalf("series sampled together at another cadence do not share their times at snapshot %d", k)
				}
				if k%17 == 0 || k == snaps-1 {
					for i := range series {
						checkSame(t, &shared[i], &alone[i], true)
					}
				}
			}
		}
	}
}

func checkSame(t *testing.T, shared, alone *Chunk, sealed bool) {
	t.Helper()
	if shared.Len() != alone.Len() {
		t.Fatalf("len %d, want %d", shared.Len(), alone.Len())
	}
	if got, want := shared.Bytes(), alone.Bytes(); !bytes.Equal(got, want) {
		t.Fatalf("shared chunk of %d samples serialises as\n%x\nwant\n%x", shared.Len(), got, want)
	}
	st, sv, sok := shared.Last()
	at, av, aok := alone.Last()
	if st != at || math.Float64bits(sv) != math.Float64bits(av) || sok != aok {
		t.Fatalf("last = %d %v %v, want %d %v %v", st, sv, sok, at, av, aok)
	}
	if sealed {
		if got, want := shared.SealedBytes(), alone.SealedBytes(); !bytes.Equal(got, want) {
			t.Fatalf("sealed shared chunk differs")
		}
	}
}

// FuzzSharedTimes drives four chunks that share one Times from the fuzz
// input: each byte is one snapshot, two bits a series (sample at the
// snapshot's time, skip it, sample a little later, sample with a value
// that recodes). Each chunk must stay byte for byte the chunk of its own.
func FuzzSharedTimes(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0x00, 0x55, 0xaa, 0xff, 0x1b, 0xe4, 0x00, 0x00})
	f.Add([]byte{0x01, 0x04, 0x10, 0x40, 0x00, 0x02, 0x08, 0x20, 0x80, 0x00})
	f.Fuzz(func(t *testing.T, plan []byte) {
		const series = 4
		tm := NewTimes()
		var shared, alone [series]Chunk
		var vals [series]float64
		for i := range shared {
			shared[i].ShareTimes(tm)
		}
		at := int64(1_700_000_000_000)
		for k, b := range plan {
			at += 5000 + int64(b%7)
			for i := range series {
				ts, v := at, vals[i]+float64(k%5)
				switch (b >> (2 * i)) & 3 {
				case 1:
					continue
				case 2:
					ts++
				case 3:
					v += 0.25
				}
				vals[i] = v
				if shared[i].Append(ts, v) != alone[i].Append(ts, v) {
					t.Fatalf("append of series %d at snapshot %d differs", i, k)
				}
			}
			for i := range series {
				checkSame(t, &shared[i], &alone[i], k == len(plan)-1)
			}
		}
	})
}
