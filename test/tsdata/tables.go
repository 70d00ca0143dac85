package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"
)

// tables prints what a store's Badger tables hold, read from a copy of a
// closed data directory: each table's bytes on disk and before block
// compression (what a compaction's builder holds, less its doubling), its
// keys by prefix (the store's and the core's records: store.go's
// prefixes), and the totals.
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
		it := t.NewIterator(0)
		for it.Rewind(); it.Valid(); it.Next() {
			keys[it.Key()[0]]++
		}
		it.Close()
		var by []string
		for p, n := range keys {
			by = append(by, fmt.Sprintf("%c:%d", p, n))
		}
		sort.Strings(by)
		u := int64(t.UncompressedSize())
		fmt.Printf("%s %10d bytes, %10d before compression (%.2f), keys %s\n",
			filepath.Base(f), t.Size(), u, float64(u)/float64(t.Size()), strings.Join(by, " "))
		stored += t.Size()
		raw += u
		t.DecrRef()
	}
	fmt.Printf("%d tables: %d bytes, %d before compression (%.2f)\n", len(files), stored, raw, float64(raw)/float64(stored))
	return nil
}
