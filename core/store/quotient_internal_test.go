package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"esmon/core/store/chunkenc"
	"esmon/core/store/segment"
)

// TestQuotientOperandMissing: a quotient chunk whose operand is gone (a
// damaged directory) fails the query with what is missing; it gives no
// values it cannot know.
func TestQuotientOperandMissing(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := Open(Options{Dir: dir, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	ls := Labels{{Name: "host", Value: "a"}}
	base := floorTo(time.Now().Add(-3*time.Hour).UnixMilli(), hourMS) + int64(windowOffset("a"))
	var in []Sample
	for i := range int64(700) { // two windows: the first is written to Badger
		used, total := float64(5e9+i*12345), 16e9
		t := base + 10_000*i
		in = append(in, Sample{Metric: "mem_total_bytes", Labels: ls, T: t, V: total},
			Sample{Metric: "mem_used_bytes", Labels: ls, T: t, V: used},
			Sample{Metric: "mem_used_percent", Labels: ls, T: t, V: used / total * 100})
	}
	if err := db.Append(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if db, err = Open(Options{Dir: dir, Logger: quietLog}); err != nil {
		t.Fatal(err)
	}
	q := Query{Metric: "mem_used_percent", Match: map[string]string{"host": "a"}, From: base, To: base + hourMS - 1}
	sel, err := db.Select(ctx, q)
	if err != nil || len(sel.Series) != 1 || len(sel.Series[0].Points) != 360 {
		t.Fatalf("before the damage: %v, %+v", err, sel)
	}
	pct, used := db.findLocked("mem_used_percent", ls), db.findLocked("mem_used_bytes", ls)
	stored := storedChunks(t, db)
	if len(stored[pct.id]) == 0 || !chunkenc.IsQuotient(stored[pct.id][0].Data) {
		t.Fatalf("the percentage's first chunk is not a quotient: %+v", stored[pct.id])
	}
	// The segment files again without the used bytes' first chunk.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	segDir := filepath.Join(dir, "chunks")
	if err := os.RemoveAll(segDir); err != nil {
		t.Fatal(err)
	}
	segs, err := segment.Open(segDir, segment.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var keep []segment.Chunk
	for id, cs := range stored {
		if id == used.id {
			cs = cs[1:]
		}
		keep = append(keep, cs...)
	}
	if err := segs.Append(keep); err != nil {
		t.Fatal(err)
	}
	segs.Close()
	if db, err = Open(Options{Dir: dir, Logger: quietLog}); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = db.Select(ctx, q)
	if err == nil || !strings.Contains(err.Error(), "quotient's operand") {
		t.Fatalf("query with the operand gone: %v, want an error naming the quotient's operand", err)
	}
}
