package journal

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func day(d int) time.Time        { return time.Date(2025, 3, d, 12, 0, 0, 0, time.UTC) }
func path(dir string, d int) string {
	return filepath.Join(dir, fmt.Sprintf("2025-03-%02d.journal", d))
}

func open(t *testing.T, dir string, c *clock) *Log {
	t.Helper()
	l, err := Open(dir, Options{Now: c.now})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// add appends each round, checks it went to the file name, and returns
// the file's size after each one.
func add(t *testing.T, l *Log, name string, rounds ...[]string) []int64 {
	t.Helper()
	var sizes []int64
	for _, r := range rounds {
		before, _ := os.Stat(name)
		recs := make([][]byte, len(r))
		for i, s := range r {
			recs[i] = []byte(s)
		}
		if err := l.Append(recs); err != nil {
			t.Fatalf("Append(%q): %v", r, err)
		}
		if sizes = append(sizes, fileSize(t, name)); before != nil && sizes[len(sizes)-1] <= before.Size() {
			t.Fatalf("Append(%q) did not write to %s", r, filepath.Base(name))
		}
	}
	return sizes
}

func fileSize(t *testing.T, name string) int64 {
	t.Helper()
	st, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// all returns every record, newest first.
func all(t *testing.T, l *Log) []string {
	t.Helper()
	var got []string
	if err := l.Newest(func(r []byte) bool { got = append(got, string(r)); return true }); err != nil {
		t.Fatalf("Newest: %v", err)
	}
	return got
}

func want(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		if len(got)+len(want) > 40 { // spare the log a megabyte record
			t.Fatalf("got %d records, want %d", len(got), len(want))
		}
		t.Fatalf("records:\n got  %q\n want %q", got, want)
	}
}

func TestAppendNewestReopen(t *testing.T) {
	dir, c := t.TempDir(), &clock{t: day(1)}
	l := open(t, dir, c)
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(rand.Uint32())
	}
	add(t, l, path(dir, 1), []string{"a", "bb"}, []string{""}, []string{string(big)}, []string{"c", "", "ddd"})
	if err := l.Append(nil); err != nil {
		t.Fatalf("Append(nil): %v", err)
	}
	exp := []string{"ddd", "", "c", string(big), "", "bb", "a"}
	want(t, all(t, l), exp...)

	var first []string
	if err := l.Newest(func(r []byte) bool { first = append(first, string(r)); return len(first) < 3 }); err != nil {
		t.Fatal(err)
	}
	want(t, first, "ddd", "", "c")

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = open(t, dir, c)
	want(t, all(t, l), exp...)
	add(t, l, path(dir, 1), []string{"e"}, []string{"f", "g"})
	want(t, all(t, l), append([]string{"g", "f", "e"}, exp...)...)
	if s := l.Stats(); s.Files != 1 || s.Bytes != fileSize(t, path(dir, 1)) || s.TailCuts != 0 || s.Damaged != 0 {
		t.Fatalf("Stats = %+v", s)
	}
}

func TestDayRollover(t *testing.T) {
	dir := t.TempDir()
	c := &clock{t: time.Date(2025, 3, 9, 23, 59, 59, 0, time.UTC)}
	l := open(t, dir, c)
	add(t, l, path(dir, 9), []string{"a"})
	// 01:00 at UTC+2 is still the 9th in UTC.
	c.set(time.Date(2025, 3, 10, 1, 0, 0, 0, time.FixedZone("X", 2*3600)))
	add(t, l, path(dir, 9), []string{"b"})
	c.set(time.Date(2025, 3, 10, 0, 0, 1, 0, time.UTC))
	add(t, l, path(dir, 10), []string{"c"}, []string{"d"})
	c.set(day(8)) // set back: keeps writing to the 10th
	add(t, l, path(dir, 10), []string{"e"})

	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "2025-03-09.journal 2025-03-10.journal" {
		t.Fatalf("files: %q", names)
	}
	want(t, all(t, l), "e", "d", "c", "b", "a")
	l.Close()
	want(t, all(t, open(t, dir, c)), "e", "d", "c", "b", "a")
}

func TestDropBefore(t *testing.T) {
	dir, c := t.TempDir(), &clock{}
	l := open(t, dir, c)
	for d := 1; d <= 3; d++ {
		c.set(day(d))
		add(t, l, path(dir, d), []string{fmt.Sprint(d, "a"), fmt.Sprint(d, "b")})
	}
	// The 2nd ends at the 3rd's midnight, after the cut: only the 1st goes.
	if n, err := l.DropBefore(time.Date(2025, 3, 2, 23, 59, 59, 0, time.UTC)); n != 1 || err != nil {
		t.Fatalf("DropBefore = %d, %v; want 1", n, err)
	}
	if n, err := l.DropBefore(time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC)); n != 0 || err != nil {
		t.Fatalf("DropBefore again = %d, %v; want 0", n, err)
	}
	if _, err := os.Stat(path(dir, 1)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("day 1 file: %v, want it removed", err)
	}
	want(t, all(t, l), "3b", "3a", "2b", "2a")
	if s := l.Stats(); s.Files != 2 || s.Bytes != fileSize(t, path(dir, 2))+fileSize(t, path(dir, 3)) {
		t.Fatalf("Stats = %+v", s)
	}
	// At the end of the 3rd (its end == cut) everything goes.
	if n, err := l.DropBefore(time.Date(2025, 3, 4, 0, 0, 0, 0, time.UTC)); n != 2 || err != nil {
		t.Fatalf("DropBefore = %d, %v; want 2", n, err)
	}
	for d := 2; d <= 3; d++ {
		if _, err := os.Stat(path(dir, d)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("day %d file: %v, want it removed", d, err)
		}
	}
	want(t, all(t, l))
	if s := l.Stats(); s.Files != 0 || s.Bytes != 0 {
		t.Fatalf("Stats = %+v", s)
	}
	add(t, l, path(dir, 3), []string{"new"}) // the clock's day is started again
	want(t, all(t, l), "new")
}

func TestTornTail(t *testing.T) {
	for _, tc := range []struct {
		name string
		tear func(f *os.File, size int64) error
		keep int // whole appends kept
	}{
		{"truncated", func(f *os.File, size int64) error { return f.Truncate(size - 3) }, 2},
		{"garbage", func(f *os.File, size int64) error { _, err := f.WriteAt([]byte("\x07garbage!"), size); return err }, 3},
		{"torn-length", func(f *os.File, size int64) error { _, err := f.WriteAt([]byte{200, 0}, size); return err }, 3},
		// A file grown by a crash before its data reached the disk reads
		// as zeros (ext4, XFS); twelve zeros look like an empty frame.
		{"zeros", func(f *os.File, size int64) error { return f.Truncate(size + 16) }, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, c := t.TempDir(), &clock{t: day(4)}
			l := open(t, dir, c)
			add(t, l, path(dir, 4), []string{"old"})
			c.set(day(5))
			name := path(dir, 5)
			sizes := add(t, l, name, []string{"a"}, []string{"b", "c"}, []string{strings.Repeat("d", 5000)})
			l.Close()
			f, err := os.OpenFile(name, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.tear(f, sizes[2]); err != nil {
				t.Fatal(err)
			}
			f.Close()

			l = open(t, dir, c)
			exp := []string{strings.Repeat("d", 5000), "c", "b", "a", "old"}[3-tc.keep:]
			want(t, all(t, l), exp...)
			if s := l.Stats(); s.TailCuts != 1 || s.Files != 2 || s.Bytes != sizes[tc.keep-1]+fileSize(t, path(dir, 4)) {
				t.Fatalf("Stats = %+v, want TailCuts 1, %d bytes in the newest", s, sizes[tc.keep-1])
			}
			if got := fileSize(t, name); got != sizes[tc.keep-1] {
				t.Fatalf("size on disk %d, want %d", got, sizes[tc.keep-1])
			}
			add(t, l, name, []string{"e"})
			exp = append([]string{"e"}, exp...)
			want(t, all(t, l), exp...)
			l.Close()
			l = open(t, dir, c)
			want(t, all(t, l), exp...)
			if s := l.Stats(); s.TailCuts != 0 {
				t.Fatalf("Stats after a clean reopen = %+v", s)
			}
		})
	}
}

func TestTornAtCreation(t *testing.T) {
	for _, head := range []string{"", "ESM", magic[:len(magic)-1]} {
		dir, c := t.TempDir(), &clock{t: day(7)}
		if err := os.WriteFile(path(dir, 7), []byte(head), 0o600); err != nil {
			t.Fatal(err)
		}
		l := open(t, dir, c)
		if b, _ := os.ReadFile(path(dir, 7)); string(b) != magic {
			t.Fatalf("head %q: file rewritten to %q", head, b)
		}
		if s := l.Stats(); s.Files != 1 || s.Bytes != int64(len(magic)) {
			t.Fatalf("head %q: Stats = %+v", head, s)
		}
		want(t, all(t, l))
		add(t, l, path(dir, 7), []string{"x"})
		want(t, all(t, l), "x")
	}

	// A torn magic followed by more bytes is not torn at creation either.
	for _, body := range []string{"hello world, not a journal", "ESMhello", "ESMJRN\x00\x00\x00\x00\x00"} {
		dir := t.TempDir()
		if err := os.WriteFile(path(dir, 7), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := Open(dir, Options{})
		if err == nil {
			l.Close()
			t.Fatalf("Open over %q: no error", body)
		}
		if !strings.Contains(err.Error(), "2025-03-07.journal") {
			t.Fatalf("Open over %q: error %q does not name the file", body, err)
		}
	}

	dir := t.TempDir() // names that are not days are left alone
	if err := os.WriteFile(filepath.Join(dir, "notes.journal"), []byte("anything"), 0o600); err != nil {
		t.Fatal(err)
	}
	want(t, all(t, open(t, dir, &clock{t: day(1)})))
}

func TestDamagedFrame(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   func(sizes []int64) int64 // offset in the newer file to flip
		exp  []string
	}{
		{"payload of first frame", func([]int64) int64 { return int64(len(magic)) + headLen + 2 }, []string{"r5", "r4"}},
		{"tail length of a middle frame", func(s []int64) int64 { return s[1] - 2 }, []string{"r5"}},
		{"head length of a middle frame", func(s []int64) int64 { return s[0] + 1 }, []string{"r5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, c := t.TempDir(), &clock{t: day(1)}
			l := open(t, dir, c)
			add(t, l, path(dir, 1), []string{"r1"}, []string{"r2"})
			c.set(day(2))
			sizes := add(t, l, path(dir, 2), []string{"r3"}, []string{"r4"}, []string{"r5"})
			l.Close()
			b, err := os.ReadFile(path(dir, 2))
			if err != nil {
				t.Fatal(err)
			}
			b[tc.at(sizes)] ^= 0x5a
			if err := os.WriteFile(path(dir, 2), b, 0o600); err != nil {
				t.Fatal(err)
			}

			l = open(t, dir, c) // the last frame is whole: nothing is cut
			if s := l.Stats(); s.TailCuts != 0 || fileSize(t, path(dir, 2)) != sizes[2] {
				t.Fatalf("Open cut a file with a whole last frame: %+v", s)
			}
			want(t, all(t, l), append(tc.exp, "r2", "r1")...)
			if s := l.Stats(); s.Damaged != 1 {
				t.Fatalf("Stats = %+v, want Damaged 1", s)
			}
		})
	}
}

func TestClosed(t *testing.T) {
	l := open(t, t.TempDir(), &clock{t: day(1)})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Append([][]byte{[]byte("x")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if err := l.Newest(func([]byte) bool { return true }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Newest after Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestConcurrentNewestAppend(t *testing.T) {
	const writers, rounds = 3, 60
	var tick atomic.Int64 // each Append's clock read moves an hour on: files roll over under the readers
	l, err := Open(t.TempDir(), Options{Now: func() time.Time { return day(1).Add(time.Duration(tick.Add(1)) * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var failed atomic.Pointer[error]
	fail := func(err error) { failed.CompareAndSwap(nil, &err) }
	var wg, readers sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range rounds {
				if err := l.Append([][]byte{fmt.Appendf(nil, "%d %05d a", w, i), fmt.Appendf(nil, "%d %05d b", w, i)}); err != nil {
					fail(err)
				}
			}
		})
	}
	var done atomic.Bool
	for range 4 {
		readers.Go(func() {
			for !done.Load() && failed.Load() == nil {
				last := map[byte]string{} // per writer, the last record seen
				err := l.Newest(func(r []byte) bool {
					if p, ok := last[r[0]]; ok && string(r) >= p {
						fail(fmt.Errorf("%q after %q: not newest first", r, p))
						return false
					}
					last[r[0]] = string(r)
					return true
				})
				if err != nil {
					fail(err)
				}
				_ = l.Stats()
			}
		})
	}
	wg.Wait()
	done.Store(true)
	readers.Wait()
	if err := failed.Load(); err != nil {
		t.Fatal(*err)
	}
	if n := len(all(t, l)); n != writers*rounds*2 {
		t.Fatalf("%d records, want %d", n, writers*rounds*2)
	}
	if s := l.Stats(); s.Files < 2 || s.Damaged != 0 {
		t.Fatalf("Stats = %+v", s)
	}
}

// TestAppendOverTheReadLimit: a round a read could not decompress is
// refused whole, and the file's older records stay readable.
func TestAppendOverTheReadLimit(t *testing.T) {
	dir, c := t.TempDir(), &clock{t: day(6)}
	l := open(t, dir, c)
	add(t, l, path(dir, 6), []string{"a"})
	if err := l.Append([][]byte{make([]byte, maxFrame+1)}); err == nil {
		t.Fatal("Append of more than a read may decompress succeeded")
	}
	want(t, all(t, l), "a")
}

// TestDirectoryNameIsNotAPattern: a data directory named with the
// characters of a file pattern keeps its files across a reopen.
func TestDirectoryNameIsNotAPattern(t *testing.T) {
	dir, c := filepath.Join(t.TempDir(), "esmon[1]*?"), &clock{t: day(8)}
	l := open(t, dir, c)
	add(t, l, path(dir, 8), []string{"a"})
	l.Close()
	l = open(t, dir, c)
	add(t, l, path(dir, 8), []string{"b"})
	want(t, all(t, l), "b", "a")
}
