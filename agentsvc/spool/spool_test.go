package spool

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"esmon/agentsvc/collect"
	"esmon/core/wire"
)

// snap is snapshot i: a CPU value i and, from i = 3 on, a per-core value,
// so later records define a series the segment has not seen.
func snap(i int) collect.Snapshot {
	s := collect.Snapshot{
		Time:    time.UnixMilli(int64(1_000_000 + i)),
		Samples: []collect.Sample{{Metric: wire.CPUUsagePercent, Value: float64(i)}},
	}
	if i >= 3 {
		s.Samples = append(s.Samples, collect.Sample{Metric: wire.CPUCoreUsagePercent,
			Labels: []wire.Label{{Name: wire.LabelCore, Value: "0"}}, Value: float64(10 * i)})
	}
	return s
}

// queue is what both kinds of spool offer.
type queue interface {
	Append(collect.Snapshot) (int, error)
	Read(after uint64, limit int) ([]Entry, error)
	Ack(seq uint64) error
	Stats() Stats
	Close() error
}

// indexes returns the snapshot numbers of es, checking that each entry
// still names its series and values as snap made them.
func indexes(t *testing.T, es []Entry) []int {
	t.Helper()
	var out []int
	for _, e := range es {
		i := int(e.TimeMS - 1_000_000)
		want := snap(i)
		if len(e.Series) != len(want.Samples) {
			t.Fatalf("entry %d has %d series, want %d", e.Seq, len(e.Series), len(want.Samples))
		}
		for k, smp := range want.Samples {
			if e.Series[k].Metric != smp.Metric || !reflect.DeepEqual(e.Series[k].Labels, smp.Labels) || e.Values[k] != smp.Value {
				t.Fatalf("entry %d sample %d = %+v %v, want %+v", e.Seq, k, *e.Series[k], e.Values[k], smp)
			}
		}
		out = append(out, i)
	}
	return out
}

func TestQueues(t *testing.T) {
	kinds := []struct {
		name string
		open func(t *testing.T) queue
	}{
		{"memory", func(*testing.T) queue { return NewMemory(100, 1) }},
		{"disk", func(t *testing.T) queue {
			// Small segments, so reads and acks cross segment files.
			d, err := Open(t.TempDir(), Options{SegmentBytes: 100})
			if err != nil {
				t.Fatal(err)
			}
			return d
		}},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			q := k.open(t)
			defer q.Close()
			for i := 1; i <= 10; i++ {
				if n, err := q.Append(snap(i)); err != nil || n != 0 {
					t.Fatalf("append %d: dropped %d, %v", i, n, err)
				}
			}
			steps := []struct {
				name  string
				ack   uint64
				after uint64
				limit int
				want  []int
			}{
				{"from the start", 0, 0, 4, []int{1, 2, 3, 4}},
				{"continue", 0, 4, 3, []int{5, 6, 7}},
				{"to the end", 0, 7, 10, []int{8, 9, 10}},
				{"nothing after the last", 0, 10, 10, nil},
				{"again from the start after a reconnect", 0, 0, 2, []int{1, 2}},
				{"acked ones never again", 6, 0, 10, []int{7, 8, 9, 10}},
				{"ack below the last ack changes nothing", 2, 0, 1, []int{7}},
			}
			for _, st := range steps {
				if st.ack > 0 {
					if err := q.Ack(st.ack); err != nil {
						t.Fatal(err)
					}
				}
				es, err := q.Read(st.after, st.limit)
				if err != nil {
					t.Fatalf("%s: %v", st.name, err)
				}
				if got := indexes(t, es); !reflect.DeepEqual(got, st.want) {
					t.Errorf("%s: read %v, want %v", st.name, got, st.want)
				}
				for _, e := range es {
					if e.Seq != uint64(e.TimeMS-1_000_000) {
						t.Errorf("%s: snapshot %d has seq %d", st.name, e.TimeMS-1_000_000, e.Seq)
					}
				}
			}
			if s := q.Stats(); s.Pending != 4 || s.Acked != 6 || s.NextSeq != 11 || s.Dropped != 0 {
				t.Errorf("stats %+v", s)
			}
			// Series are shared between entries, so a sender numbers them once.
			es, _ := q.Read(6, 10)
			if es[0].Series[0] != es[3].Series[0] {
				t.Error("the same series has two *Series")
			}
		})
	}
}

func TestDiskSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(dir, Options{SegmentBytes: 150, FirstSeq: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 8; i++ {
		d.Append(snap(i))
	}
	d.Ack(5)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	// FirstSeq of a reopened spool is ignored: numbering goes on.
	d, err = Open(dir, Options{SegmentBytes: 150, FirstSeq: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if s := d.Stats(); s.Pending != 3 || s.Acked != 5 || s.NextSeq != 9 {
		t.Fatalf("after reopening: %+v", s)
	}
	d.Append(snap(9))
	es, err := d.Read(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := indexes(t, es); !reflect.DeepEqual(got, []int{6, 7, 8, 9}) {
		t.Errorf("after reopening read %v, want [6 7 8 9]", got)
	}
	if es[3].Seq != 9 {
		t.Errorf("first new snapshot has seq %d, want 9", es[3].Seq)
	}
	// Acking everything leaves only the segment being written.
	d.Ack(9)
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	if len(segs) != 1 {
		t.Errorf("%d segment files after acking all, want 1: %v", len(segs), segs)
	}
}

func TestDiskBoundDropsOldest(t *testing.T) {
	dir := t.TempDir()
	// Each record of snap(i >= 3) is about 40 bytes: segments of ~3
	// records, at most ~3 segments.
	opt := Options{MaxBytes: 400, SegmentBytes: 120}
	d, err := Open(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for i := 1; i <= 40; i++ {
		n, err := d.Append(snap(i))
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	s := d.Stats()
	if s.Bytes > opt.MaxBytes {
		t.Errorf("spool holds %d bytes, bound %d", s.Bytes, opt.MaxBytes)
	}
	if total == 0 || uint64(total) != s.Dropped || s.Pending+total != 40 {
		t.Errorf("dropped %d (stats %+v); pending + dropped must be 40", total, s)
	}
	es, _ := d.Read(0, 100)
	got := indexes(t, es)
	if len(got) != s.Pending || got[len(got)-1] != 40 || got[0] != total+1 {
		t.Errorf("kept %v: want the newest %d, from %d to 40", got, s.Pending, total+1)
	}
	d.Close()
	// The count of dropped snapshots survives a restart, to be reported.
	d, err = Open(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Stats().Dropped != uint64(total) {
		t.Errorf("dropped after reopening %d, want %d", d.Stats().Dropped, total)
	}
}

func TestDiskCutsTornRecord(t *testing.T) {
	tests := []struct {
		name string
		tail []byte
	}{
		{"half a header", []byte{9, 0, 0}},
		{"header without payload", []byte{40, 0, 0, 0, 1, 2, 3, 4}},
		{"bad checksum", append([]byte{4, 0, 0, 0, 1, 2, 3, 4}, 1, 2, 3, 4)},
		{"absurd length", []byte{255, 255, 255, 255, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			d, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 3; i++ {
				d.Append(snap(i))
			}
			d.Close()
			segs, _ := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
			f, err := os.OpenFile(segs[0], os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(tt.tail)
			f.Close()

			d, err = Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			d.Append(snap(4))
			es, err := d.Read(0, 10)
			if err != nil {
				t.Fatal(err)
			}
			if got := indexes(t, es); !reflect.DeepEqual(got, []int{1, 2, 3, 4}) {
				t.Errorf("read %v, want [1 2 3 4]", got)
			}
		})
	}
}

func TestMemoryDropsOldest(t *testing.T) {
	m := NewMemory(3, 10)
	dropped := 0
	for i := 1; i <= 5; i++ {
		n, _ := m.Append(snap(i))
		dropped += n
	}
	es, _ := m.Read(0, 10)
	if got := indexes(t, es); !reflect.DeepEqual(got, []int{3, 4, 5}) || dropped != 2 {
		t.Errorf("kept %v, dropped %d; want [3 4 5], 2", got, dropped)
	}
	if s := m.Stats(); s.Dropped != 2 || s.Acked != 11 || s.NextSeq != 15 || es[0].Seq != 12 {
		t.Errorf("stats %+v, first seq %d", s, es[0].Seq)
	}
}

// BenchmarkDiskAppendReadAck is the spool's share of one collection in the
// steady state: one snapshot of 150 series written, read back and acked.
func BenchmarkDiskAppendReadAck(b *testing.B) {
	d, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	s := collect.Snapshot{Time: time.Now()}
	for i := range 150 {
		s.Samples = append(s.Samples, collect.Sample{Metric: wire.CPUCoreUsagePercent,
			Labels: []wire.Label{{Name: wire.LabelCore, Value: fmt.Sprint(i)}}, Value: float64(i) * 1.5})
	}
	b.ReportAllocs()
	var after uint64
	for b.Loop() {
		if _, err := d.Append(s); err != nil {
			b.Fatal(err)
		}
		es, err := d.Read(after, 64)
		if err != nil || len(es) != 1 {
			b.Fatalf("read %d entries, %v", len(es), err)
		}
		after = es[0].Seq
		d.Ack(after)
	}
}

// FuzzDiskOpen writes any bytes as a segment: Open must cut off what it
// cannot read, never panic, and the spool must work afterwards.
func FuzzDiskOpen(f *testing.F) {
	// A real segment of two records as a seed.
	dir0 := f.TempDir()
	d0, err := Open(dir0, Options{})
	if err != nil {
		f.Fatal(err)
	}
	d0.Append(snap(1))
	d0.Append(snap(3))
	d0.Close()
	segs, _ := filepath.Glob(filepath.Join(dir0, "*"+segmentExt))
	for _, p := range segs {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{4, 0, 0, 0, 1, 2, 3, 4, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, seg []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "00000000000000000001"+segmentExt), seg, 0o600); err != nil {
			t.Fatal(err)
		}
		d, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if _, err := d.Read(0, 100); err != nil {
			t.Fatalf("read after open: %v", err)
		}
		if _, err := d.Append(snap(5)); err != nil {
			t.Fatal(err)
		}
		es, err := d.Read(0, 1000)
		if err != nil || len(es) == 0 || es[len(es)-1].TimeMS != snap(5).Time.UnixMilli() {
			t.Fatalf("after append: %d entries, %v", len(es), err)
		}
	})
}

// TestMemoryNamesMovedSeries: a snapshot's series are matched to the last
// one's by position first; a series that moved, a new one in its place and
// labels that changed under the same metric must each get its own name,
// and a series seen before must get the *Series it had.
func TestMemoryNamesMovedSeries(t *testing.T) {
	l := func(v string) []wire.Label { return []wire.Label{{Name: "name", Value: v}} }
	snaps := [][]collect.Sample{
		{{Metric: "a", Labels: l("1")}, {Metric: "b"}, {Metric: "c", Labels: l("x")}},
		{{Metric: "b"}, {Metric: "a", Labels: l("1")}, {Metric: "c", Labels: l("y")}},
		{{Metric: "a", Labels: l("2")}, {Metric: "a", Labels: l("1")}, {Metric: "c", Labels: l("x")}, {Metric: "b"}},
	}
	q := NewMemory(10, 1)
	for i, s := range snaps {
		for k := range s {
			s[k].Value = float64(10*i + k)
		}
		if _, err := q.Append(collect.Snapshot{Time: time.UnixMilli(int64(i + 1)), Samples: s}); err != nil {
			t.Fatal(err)
		}
	}
	es, err := q.Read(0, 10)
	if err != nil || len(es) != len(snaps) {
		t.Fatalf("read %d entries, %v", len(es), err)
	}
	byName := map[string]*Series{}
	for i, e := range es {
		for k, smp := range snaps[i] {
			got := e.Series[k]
			if !got.is(smp.Metric, smp.Labels) || e.Values[k] != smp.Value {
				t.Fatalf("snapshot %d sample %d named %+v = %v, want %s%v = %v", i, k, *got, e.Values[k], smp.Metric, smp.Labels, smp.Value)
			}
			key := smp.Key()
			if old, ok := byName[key]; ok && old != got {
				t.Errorf("snapshot %d: %s has a second *Series", i, key)
			}
			byName[key] = got
		}
	}
	if len(byName) != 5 {
		t.Errorf("%d distinct series, want 5", len(byName))
	}
}

// BenchmarkMemoryAppend queues snapshots of 500 series whose labels are
// equal to the last snapshot's but not the same slices (a collector that
// builds them afresh): the cost of naming every sample's series.
func BenchmarkMemoryAppend(b *testing.B) {
	const n = 500
	var snaps [2]collect.Snapshot
	for i := range snaps {
		snaps[i].Samples = make([]collect.Sample, n)
		for k := range n {
			snaps[i].Samples[k] = collect.Sample{Metric: "sim_gauge", Value: float64(k),
				Labels: []wire.Label{{Name: "n", Value: strconv.Itoa(k)}, {Name: "kind", Value: "pad"}}}
		}
	}
	q := NewMemory(4, 1)
	b.ReportAllocs()
	for i := range b.N {
		q.Append(snaps[i%2])
		q.Ack(uint64(i + 1))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/sample")
}
