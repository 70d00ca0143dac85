package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// BenchmarkRollupDay makes the hour rollups of one day of 1,000 series
// sampled every 5 s (17.3 M samples, in the segment files), an hour at a
// time from the samples stored, as the core does two minutes after each
// hour whose samples the head has not all folded (BenchmarkRollupDay-
// Folded is the rest): with the minute
// rollups not stored yet (they are only once the raw samples expire
// within a day), each hour's row is folded from the raw samples and
// written under its series-hour key. An op is the day's 24 hours; B/op is
// what the collector has to take back for them. The day's chunks are in
// one segment file, or in files of 1 MiB, about an hour's each, as at
// 10,000 agents (a 256 MiB file there holds ~37 minutes: 172 MB in
// 23.4 minutes in the twenty-sixth round's run r2): each hour's
// rollup then reads the index of the files of its hour only.
func BenchmarkRollupDay(b *testing.B) {
	for _, l := range []struct {
		name  string
		bytes int64
	}{{"files=one", 0}, {"files=hourly", 1 << 20}} {
		b.Run(l.name, func(b *testing.B) { benchRollupDay(b, l.bytes) })
	}
}

func benchRollupDay(b *testing.B, segmentBytes int64) {
	db := open(&testing.T{}, Options{Dir: b.TempDir(), Logger: quietLog, SegmentBytes: segmentBytes})
	defer db.Close()
	ctx := context.Background()
	day := floorTo(time.Now().UnixMilli()-2*dayMS, dayMS)
	const series, interval = 1000, 5000
	rng := rand.New(rand.NewPCG(3, 3))
	pts := make([][]Point, series) // each series' day
	for i := range pts {
		pts[i] = walk(rng, day, interval, int(dayMS/interval))
	}
	// As agents send: every host's samples of a half hour, then the next
	// half hour's, so that a flush holds the pieces of every series.
	const perPiece = int(chunkPiece / interval)
	for k := 0; k < len(pts[0]); k += perPiece {
		for h := range series / 10 {
			var in []Sample
			for m := range 10 {
				for _, p := range pts[h*10+m][k:min(k+perPiece, len(pts[0]))] {
					in = append(in, Sample{Metric: fmt.Sprintf("m%d", m), Labels: hostLabels(fmt.Sprint("h", h)), T: p.T, V: p.V})
				}
			}
			if err := db.Append(ctx, in); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := db.checkpoint(true); err != nil { // every chunk to the segment files
		b.Fatal(err)
	}
	db.hmu.Lock()
	all := db.byID.list()
	db.hmu.Unlock()
	if len(all) != series {
		b.Fatalf("%d series", len(all))
	}
	cpu := cpuTime()
	b.ReportAllocs()
	for b.Loop() {
		for h := day; h < day+dayMS; h += hourMS {
			if err := db.rollupEach(ctx, all, tierHourCode, h); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportCPU(b, cpu)
}

// BenchmarkRollupDayFolded makes the same day's hour rollups as
// BenchmarkRollupDay from the rows the head folds as samples come (see
// foldHour), as the core does for the hours it has every sample of: an
// op is the day's 24 hours of rows of 1,000 series, each under its key.
func BenchmarkRollupDayFolded(b *testing.B) {
	db := open(&testing.T{}, Options{Dir: b.TempDir(), Logger: quietLog})
	defer db.Close()
	ctx := context.Background()
	day, hours := dayOfHourRows(1000)
	cpu := cpuTime()
	b.ReportAllocs()
	for b.Loop() {
		for i, rows := range hours {
			if err := db.writeHourRows(ctx, day+int64(i)*hourMS, rows); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportCPU(b, cpu)
}

// BenchmarkRollupHourOfDay is one hour's folded rollup of 1,000 series
// (what the core does two minutes after each hour, at 10,000 agents for
// ~805,000 series), for the first hour of a day and for later ones. Each
// row goes under a key of its own, so the hour of the day should not
// matter: when a row was added to its series' day key, read and written
// whole, the rollup of hour 23 wrote 7.6 times the bytes of hour 0's. An
// op writes hour h's rows again (each replaces itself), after hours 0 to
// h-1 were written once; value-B/series is the size of a series' value
// written for the hour, what Badger takes into its memtables and
// compactions besides the key.
func BenchmarkRollupHourOfDay(b *testing.B) {
	const series = 1000
	day, hours := dayOfHourRows(series)
	for _, hour := range []int{0, 11, 23} {
		b.Run(fmt.Sprintf("hour=%d", hour), func(b *testing.B) {
			db := open(&testing.T{}, Options{Dir: b.TempDir(), Logger: quietLog})
			defer db.Close()
			ctx := context.Background()
			for h := range hour {
				if err := db.writeHourRows(ctx, day+int64(h)*hourMS, hours[h]); err != nil {
					b.Fatal(err)
				}
			}
			cpu := cpuTime()
			b.ReportAllocs()
			for b.Loop() {
				if err := db.writeHourRows(ctx, day+int64(hour)*hourMS, hours[hour]); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu)
			var size int64
			err := db.view(func(txn *badger.Txn) error {
				for id := range uint64(series) {
					it, err := txn.Get(rollupKey(tierHourRow, id, day+int64(hour)*hourMS))
					if err != nil {
						return err
					}
					size += it.ValueSize()
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(size)/series, "value-B/series")
		})
	}
}

// dayOfHourRows is the 1-hour rows, by hour, of a day two days ago of
// series random walks sampled every 5 s, as the head folds them.
func dayOfHourRows(series int) (int64, [][]hourRow) {
	const interval = 5000
	day := floorTo(time.Now().UnixMilli()-2*dayMS, dayMS)
	rng := rand.New(rand.NewPCG(3, 3))
	hours := make([][]hourRow, 24)
	for id := range uint64(series) {
		for _, rw := range fold(walk(rng, day+1000, interval, int(dayMS/interval)), hourMS) {
			h := (rw.t - day) / hourMS
			hours[h] = append(hours[h], hourRow{id: id, row: rw})
		}
	}
	return day, hours
}
