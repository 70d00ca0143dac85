package store

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCheckpointLeavesOutIndexedSeries: a checkpoint does not repeat the
// names of series that are in Badger's index, so what a store keeps
// beside Badger does not grow by a name per series it ever saw (process
// series come and go by the thousand); a restart still knows every
// series and its latest value.
func TestCheckpointLeavesOutIndexedSeries(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db := open(t, Options{Dir: dir})
	now := time.Now().UnixMilli() - dayMS
	const n = 2000
	long := strings.Repeat("a-long-process-name-", 4)
	var in []Sample
	for i := range n {
		in = append(in, Sample{Metric: "process_cpu_usage_percent", T: now + int64(i),
			Labels: hostLabels("h", Label{Name: "pid", Value: strconv.Itoa(i)}, Label{Name: "process", Value: long + strconv.Itoa(i)}), V: float64(i) / 100})
	}
	if err := db.Append(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	var ck int64
	filepath.WalkDir(filepath.Join(dir, "wal"), func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.Contains(p, checkpointPrefix) {
			fi, _ := e.Info()
			ck += fi.Size()
		}
		return nil
	})
	// A latest value is ~20 bytes; a name is over 100.
	if ck > 40*n {
		t.Errorf("checkpoint of %d series takes %d bytes: series names repeated", n, ck)
	}
	db = open(t, Options{Dir: dir})
	defer db.Close()
	got := db.Latest("h", "process_cpu_usage_percent")
	if len(got) != n {
		t.Fatalf("%d latest values after restart, want %d", len(got), n)
	}
	for _, l := range got {
		i, _ := strconv.Atoi(l.Labels.Get("pid"))
		if l.T != now+int64(i) || l.V != float64(i)/100 || l.Labels.Get("process") != long+strconv.Itoa(i) {
			t.Fatalf("after restart %v = %v at %d", l.Labels, l.V, l.T)
		}
	}
}

// Close finishes the open chunks a batch at a time, each batch flushed
// before the next is finished: after finishAll no chunk is open or
// pending, across the batches' boundary, and every sample reads back
// after a reopen.
func TestFinishAllFlushesEachBatch(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	const n = finishBatch + 10
	base := floorTo(time.Now().UnixMilli()-hourMS, hourMS)
	in := make([]Sample, 0, 2*n)
	for i := range n {
		ls := Labels{{Name: "host", Value: fmt.Sprintf("h%06d", i)}}
		in = append(in, Sample{Metric: "m", Labels: ls, T: base, V: float64(i)}, Sample{Metric: "m", Labels: ls, T: base + 1000, V: float64(i) + 1})
	}
	if err := db.Append(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := db.finishAll(); err != nil {
		t.Fatal(err)
	}
	db.hmu.Lock()
	open, pending := 0, len(db.withPending)
	for ms := range db.byID.all() {
		if ms.head.Len() > 0 {
			open++
		}
		pending += len(ms.pending)
	}
	db.hmu.Unlock()
	if open != 0 || pending != 0 {
		t.Fatalf("after finishAll: %d open chunks, %d pending, want none", open, pending)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if db, err = Open(Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sel, err := db.Select(ctx, Query{Metric: "m", From: base, To: base + hourMS})
	if err != nil {
		t.Fatal(err)
	}
	points := 0
	for _, s := range sel.Series {
		points += len(s.Points)
	}
	if len(sel.Series) != n || points != 2*n {
		t.Fatalf("after reopen: %d series, %d points, want %d and %d", len(sel.Series), points, n, 2*n)
	}
}
