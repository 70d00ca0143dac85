package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"
)

// tables prints what a store's Badger tables hold, read from a copy of a
// closed data directory: each table's bytes on disk and before block
// compression (what a compaction's builder holds, less its doubling), its
// keys by prefix (the store's and the core's records: store.go's
// prefixes) and, for chunks, the span of their pieces, and the totals.
func tables(args []string) error {
	fs := flag.NewFlagSet("tables", flag.ExitOnError)
	dir := fs.String("dir", "", "Badger directory (a core's data dir/db), not open in a running core")
	fs.Parse(args)
	files, err := filepath.Glob(filepath.Join(*dir, "*.sst"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no tables in %q", *dir)
	}
	sort.Strings(files)
	var stored, raw int64
	for _, f := range files {
		mf, err := z.OpenMmapFile(f, os.O_RDONLY, 0)
		if mf == nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		// The block size is the store's (store.Open); it only sizes the
		// reader's estimate of a decompressed block.
		t, err := table.OpenTable(mf, table.Options{Compression: options.ZSTD, BlockSize: 32 << 10})
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		keys := map[byte]int{}
		lo, hi := int64(math.MaxInt64), int64(math.MinInt64) // chunks' pieces
		it := t.NewIterator(0)
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Key()
			keys[k[0]]++
			if k[0] == 'c' && len(k) >= 9 { // c<piece><id><first time>, as store's chunkKey
				p := int64(binary.BigEndian.Uint64(k[1:9]) ^ 1<<63)
				lo, hi = min(lo, p), max(hi, p)
			}
		}
		it.Close()
		var by []string
		for p, n := range keys {
			by = append(by, fmt.Sprintf("%c:%d", p, n))
		}
		sort.Strings(by)
		u := int64(t.UncompressedSize())
		span := ""
		if lo <= hi { // how far apart in time the chunks of the table are
			span = fmt.Sprintf(", pieces %s–%s (%.0f min)", time.UnixMilli(lo).UTC().Format("15:04:05"),
				time.UnixMilli(hi).UTC().Format("15:04:05"), float64(hi-lo)/60e3)
		}
		fmt.Printf("%s %10d bytes, %10d before compression (%.2f), keys %s%s\n",
			filepath.Base(f), t.Size(), u, float64(u)/float64(t.Size()), strings.Join(by, " "), span)
		stored += t.Size()
		raw += u
		t.DecrRef()
	}
	fmt.Printf("%d tables: %d bytes, %d before compression (%.2f)\n", len(files), stored, raw, float64(raw)/float64(stored))
	return nil
}
