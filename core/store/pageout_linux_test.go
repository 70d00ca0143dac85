package store

import (
	"bufio"
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
// pages them out, by itself every PageOutEvery. The tables hold records
// (rollups, the alert engine's) here: 16 MiB, two memtables' worth.
func TestTablePagesLeaveTheRSS(t *testing.T) {
	dir := t.TempDir()
	const n = 16 << 10
	db := open(t, Options{Dir: dir})
	rng := rand.New(rand.NewPCG(1, 1)) // values that do not compress
	var keys, values [][]byte
	for i := range n {
		v := make([]byte, 1<<10)
		for j := range v {
			v[j] = byte(rng.Uint32())
		}
		keys, values = append(keys, []byte{PrefixMeta, byte(i >> 8), byte(i)}), append(values, v)
		if len(keys) == 1024 {
			if err := db.PutBatch(keys, values); err != nil {
				t.Fatal(err)
			}
			keys, values = nil, nil
		}
	}
	if err := db.Close(); err != nil { // the memtables to tables
		t.Fatal(err)
	}

	readAll := func(db *DB) {
		t.Helper()
		got := 0
		if err := db.Scan([]byte{PrefixMeta}, func(k, v []byte) bool { got++; return true }); err != nil {
			t.Fatal(err)
		}
		if got != n {
			t.Fatalf("%d records read, want %d", got, n)
		}
	}
	db = open(t, Options{Dir: dir, PageOutEvery: time.Hour})
	readAll(db)
	before := tableRSS(t, db)
	if before < 1<<20 {
		t.Fatalf("%d bytes of tables resident after reading every record: too few for the test to tell anything", before)
	}
	if err := pageOutTables(db.tableDir); err != nil {
		t.Fatal(err)
	}
	if after := tableRSS(t, db); after > before/10 {
		t.Fatalf("%d bytes of tables resident after paging them out, %d before", after, before)
	} else {
		t.Logf("tables resident: %d bytes after reading every record, %d after paging them out", before, after)
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
