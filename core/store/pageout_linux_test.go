package store

import (
	"bufio"
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tableRSS is the bytes of the store's table files resident in the
// process's mappings, from /proc/self/smaps.
func tableRSS(t *testing.T, db *DB) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rss int64
	table := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		switch {
		case len(fs) > 0 && !strings.HasSuffix(fs[0], ":"): // a mapping's first line
			_, _, table = tableMapping(sc.Text(), db.tableDir)
		case table && len(fs) == 3 && fs[0] == "Rss:":
			kb, err := strconv.ParseInt(fs[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			rss += kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rss
}

// TestTablePagesLeaveTheRSS checks that the pages of Badger's tables that
// reads brought into the process's mappings leave its RSS when the store
// pages them out, by itself every PageOutEvery.
func TestTablePagesLeaveTheRSS(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	hosts := make([]string, 40)
	for i := range hosts {
		hosts[i] = "h" + strconv.Itoa(i)
	}
	metrics := []string{"cpu", "mem", "load", "disk", "net_in", "net_out"}
	base := floorTo(time.Now().UnixMilli()-2*dayMS, hourMS)
	const n = 4 * 360 // four hours at 10 s
	db := open(t, Options{Dir: dir})
	rng := rand.New(rand.NewPCG(1, 1)) // values that take room: ~8 bytes a sample
	for i := range int64(n) {
		var in []Sample
		for _, h := range hosts {
			for _, m := range metrics {
				in = append(in, Sample{Metric: m, Labels: hostLabels(h), T: base + i*10_000, V: rng.Float64()})
			}
		}
		if err := db.Append(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil { // every chunk to Badger, and to its tables
		t.Fatal(err)
	}

	readAll := func(db *DB) {
		t.Helper()
		for _, m := range metrics {
			sel, err := db.Select(ctx, Query{Metric: m, From: base, To: base + n*10_000})
			if err != nil {
				t.Fatal(err)
			}
			if len(sel.Series) != len(hosts) || len(sel.Series[0].Points) != n {
				t.Fatalf("%s: %d series, want %d, of %d points", m, len(sel.Series), len(hosts), n)
			}
		}
	}
	db = open(t, Options{Dir: dir, PageOutEvery: time.Hour})
	readAll(db)
	before := tableRSS(t, db)
	if before < 256<<10 {
		t.Fatalf("%d bytes of tables resident after reading every chunk: too few for the test to tell anything", before)
	}
	if err := pageOutTables(db.tableDir); err != nil {
		t.Fatal(err)
	}
	if after := tableRSS(t, db); after > before/10 {
		t.Fatalf("%d bytes of tables resident after paging them out, %d before", after, before)
	} else {
		t.Logf("tables resident: %d bytes after reading every chunk, %d after paging them out", before, after)
	}
	readAll(db) // read back from the files
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = open(t, Options{Dir: dir, PageOutEvery: 100 * time.Millisecond})
	defer db.Close()
	readAll(db)
	deadline := time.Now().Add(10 * time.Second)
	for tableRSS(t, db) > before/10 {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes of tables still resident 10 s after reading with PageOutEvery 100ms", tableRSS(t, db))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
