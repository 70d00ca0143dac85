package store

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// pageOutTables asks the kernel to reclaim the pages of the store's
// Badger tables that the process has mapped (madvise MADV_PAGEOUT on
// every mapping of a .sst file in dir, the store's).
//
// Badger maps every table it opens and writes a new table, and reads
// every table, through its mapping: each page it touched stays mapped,
// and counted in the core's RSS, until it closes the table, so the RSS
// grew with the tables whatever the heap did (at 10,000 agents 880 MiB
// of tables were resident after an hour, BENCHMARKS.md, "Scale",
// twenty-first round). The pages are clean (Badger syncs a table before
// it uses it): reclaiming them drops them, and a later read faults them
// back in from the file. Dirty pages the kernel leaves where they are.
//
// The mappings are read from /proc/self/maps, and a table may be closed,
// and its range mapped anew, between that and the madvise: MADV_PAGEOUT
// is safe on any range, since it never discards data (an anonymous page
// is swapped out, if there is swap at all, and read back when touched).
func pageOutTables(dir string) error {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return err
	}
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		lo, hi, ok := tableMapping(sc.Text(), dir)
		if !ok {
			continue
		}
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, lo, hi-lo, unix.MADV_PAGEOUT); errno != 0 && errno != unix.ENOMEM {
			// ENOMEM: the range was unmapped meanwhile.
			errs = append(errs, fmt.Errorf("madvise %x-%x: %w", lo, hi, errno))
			if errno == unix.EINVAL { // a kernel before 5.4
				break
			}
		}
	}
	return errors.Join(errs...)
}

// tableMapping parses a line of /proc/self/maps ("lo-hi perms offset dev
// inode path"; a mapping's first line in /proc/self/smaps) and reports the range of a mapping of a .sst file in dir.
func tableMapping(line string, dir string) (lo, hi uintptr, ok bool) {
	f := strings.Fields(line)
	if len(f) != 6 || !strings.HasSuffix(f[5], ".sst") || filepath.Dir(f[5]) != dir {
		return 0, 0, false
	}
	r, s, found := strings.Cut(f[0], "-")
	if !found {
		return 0, 0, false
	}
	l, err1 := strconv.ParseUint(r, 16, 64)
	h, err2 := strconv.ParseUint(s, 16, 64)
	if err1 != nil || err2 != nil || h <= l {
		return 0, 0, false
	}
	return uintptr(l), uintptr(h), true
}
