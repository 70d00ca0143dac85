package segment

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const piece = 1800_000

// chunkOf is a chunk whose bytes name it, of a length that varies.
func chunkOf(id uint64, p int64) Chunk {
	data := bytes.Repeat([]byte(fmt.Sprintf("series %d piece %d;", id, p)), 1+int(id%7))
	return Chunk{ID: id, Piece: p * piece, FirstT: p*piece + int64(id), Data: data}
}

func write(t *testing.T, s *Store, ids uint64, pieces ...int64) {
	t.Helper()
	var cs []Chunk
	for _, p := range pieces {
		for id := range ids {
			cs = append(cs, chunkOf(id, p))
		}
	}
	if err := s.Append(cs); err != nil {
		t.Fatal(err)
	}
}

// check reads every series' chunks of pieces lo to hi and compares them
// with what chunkOf made.
func check(t *testing.T, s *Store, ids uint64, lo, hi int64) {
	t.Helper()
	r := s.NewReader()
	for id := range ids {
		var got []Chunk
		err := r.Chunks(id, lo*piece, hi*piece, func(c Chunk) error { got = append(got, c); return nil })
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != int(hi-lo+1) {
			t.Fatalf("series %d: %d chunks of pieces %d..%d, want %d", id, len(got), lo, hi, hi-lo+1)
		}
		for i, c := range got {
			want := chunkOf(id, lo+int64(i))
			if c.Piece != want.Piece || c.FirstT != want.FirstT || !bytes.Equal(c.Data, want.Data) {
				t.Fatalf("series %d chunk %d: got piece %d first %d %q, want %d %d %q", id, i, c.Piece, c.FirstT, c.Data, want.Piece, want.FirstT, want.Data)
			}
		}
	}
}

func TestChunksReadBackOpenSealedAndReopened(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const ids = 2000 // several frames and index blocks
	write(t, s, ids, 0)
	write(t, s, ids, 1)
	check(t, s, ids, 0, 1)
	if err := s.Seal(); err != nil {
		t.Fatal(err)
	}
	write(t, s, ids, 2, 3)
	check(t, s, ids, 0, 3)
	check(t, s, ids, 1, 2)
	if s.Files() != 2 {
		t.Fatalf("%d files, want 2 (one sealed, one open)", s.Files())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	check(t, s, ids, 0, 3)
	write(t, s, ids, 4) // appended to the open file read back
	check(t, s, ids, 0, 4)
	if s.Files() != 2 {
		t.Fatalf("%d files after reopening, want 2", s.Files())
	}
	s.Close()
}

func TestTornTailIsCut(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	write(t, s, 100, 0)
	size := s.Size()
	write(t, s, 100, 1)
	s.Close()
	p := filepath.Join(dir, "00000000.seg")
	fi, _ := os.Stat(p)
	// The second append torn in its middle, as a crash leaves it.
	if err := os.Truncate(p, size+(fi.Size()-size)/2); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Size() < size || s.Cuts() != 1 {
		t.Fatalf("size %d after %d cuts, want one cut and at least the first append's %d", s.Size(), s.Cuts(), size)
	}
	check(t, s, 100, 0, 0)
	// The replay writes the lost chunks again, after whole frames.
	write(t, s, 100, 1)
	check(t, s, 100, 0, 1)
	s.Close()
}

func TestChunkWrittenTwiceReadsOnce(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	write(t, s, 10, 0)
	c := chunkOf(3, 0)
	c.Data = []byte("the second copy")
	if err := s.Append([]Chunk{c}); err != nil {
		t.Fatal(err)
	}
	for _, seal := range []bool{false, true} {
		if seal {
			s.Seal()
		}
		got, err := s.NewReader().Get(3, c.Piece, c.FirstT)
		if err != nil || string(got) != "the second copy" {
			t.Fatalf("sealed %v: got %q, %v; want the second copy", seal, got, err)
		}
	}
}

func TestFilesSealAtSpanAndDropWhole(t *testing.T) {
	s, err := Open(t.TempDir(), Options{MaxSpan: 4 * piece})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for p := range int64(12) {
		write(t, s, 5, p)
	}
	if s.Files() != 3 {
		t.Fatalf("%d files for 12 pieces at 4 a file, want 3", s.Files())
	}
	n, err := s.DropBefore(6 * piece)
	if err != nil || n != 1 {
		t.Fatalf("dropped %d files (%v), want the one of pieces 0-3", n, err)
	}
	check(t, s, 5, 4, 11)
	var got int
	s.NewReader().Chunks(1, 0, 3*piece, func(Chunk) error { got++; return nil })
	if got != 0 {
		t.Fatalf("%d chunks of dropped pieces read", got)
	}
}

func TestNotASegmentFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "00000000.seg"), []byte("something else entirely"), 0o644)
	if _, err := Open(dir, Options{}); err == nil {
		t.Fatal("opened a directory whose segment file is not one")
	}
}

// TestTornSealIsUndone checks a file whose seal a crash tore (part of its
// index written, no footer): Open reads its frames, cuts the index off,
// and seals it again when a newer file exists.
func TestTornSealIsUndone(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	write(t, s, 3000, 0, 1)
	frames := s.Size()
	if err := s.Seal(); err != nil {
		t.Fatal(err)
	}
	write(t, s, 3000, 2) // a second file
	s.Close()
	p := filepath.Join(dir, "00000000.seg")
	fi, _ := os.Stat(p)
	if err := os.Truncate(p, frames+(fi.Size()-frames)/2); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Cuts() != 1 {
		t.Fatalf("%d files cut, want the one whose seal was torn", s.Cuts())
	}
	check(t, s, 3000, 0, 2)
	s.Close()
	// Sealed again by that Open: the next one reads its footer.
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Cuts() != 0 {
		t.Fatalf("%d files cut on the second start", s.Cuts())
	}
	check(t, s, 3000, 0, 2)
}

// TestDamagedFrameFailsTheRead checks that a sealed file's frame damaged
// on disk gives an error naming the file, not wrong chunks.
func TestDamagedFrameFailsTheRead(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	write(t, s, 50, 0)
	s.Seal()
	s.Close()
	p := filepath.Join(dir, "00000000.seg")
	b, _ := os.ReadFile(p)
	b[len(fileMagic)+20] ^= 0xff // inside the first frame's payload
	os.WriteFile(p, b, 0o644)
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.NewReader().Chunks(0, 0, 0, func(Chunk) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "00000000.seg") {
		t.Fatalf("read of a damaged frame: %v, want an error naming the file", err)
	}
}

// TestReaderReusesFramesAfterRelease: a reader never released keeps every
// chunk it returned intact, however many frames it reads after; one
// released after each series decompresses into the frames it gave up,
// and reads the same chunks.
func TestReaderReusesFramesAfterRelease(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Chunks of about a kilobyte, as a half hour of a series at 5 s:
	// ~600 frames, several times a reader's readerFrames.
	const ids, pieces = 5000, 4
	want := make([][]byte, ids*pieces)
	var cs []Chunk
	for p := range int64(pieces) {
		for id := range uint64(ids) {
			data := bytes.Repeat([]byte(fmt.Sprintf("series %d piece %d;", id, p)), 40+int(id%7))
			want[int64(id)*pieces+p] = data
			cs = append(cs, Chunk{ID: id, Piece: p * piece, FirstT: p*piece + int64(id), Data: data})
		}
	}
	if err := s.Append(cs); err != nil {
		t.Fatal(err)
	}
	if err := s.Seal(); err != nil {
		t.Fatal(err)
	}
	pass := func(r *Reader, release bool, keep *[]Chunk) (allocated uint64) {
		t.Helper()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for id := range uint64(ids) {
			err := r.Chunks(id, 0, (pieces-1)*piece, func(c Chunk) error {
				if keep != nil {
					*keep = append(*keep, c)
				} else if w := want[int64(id)*pieces+c.Piece/piece]; !bytes.Equal(c.Data, w) {
					return fmt.Errorf("series %d piece %d: %q, want %q", id, c.Piece/piece, c.Data, w)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if release {
				r.Release()
			}
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}

	kept := make([]Chunk, 0, ids*pieces)
	r := s.NewReader()
	pass(r, false, &kept)
	if len(kept) != ids*pieces {
		t.Fatalf("%d chunks, want %d", len(kept), ids*pieces)
	}
	for _, c := range kept {
		if w := want[int64(c.ID)*pieces+c.Piece/piece]; !bytes.Equal(c.Data, w) {
			t.Fatalf("series %d piece %d changed after later reads: %q, want %q", c.ID, c.Piece/piece, c.Data, w)
		}
	}
	fresh := pass(r, false, nil)

	r = s.NewReader()
	pass(r, true, nil) // fills its frames and the room given up
	reused := pass(r, true, nil)
	t.Logf("a pass over %d series allocated %d bytes released after each series, %d never released", ids, reused, fresh)
	if reused*4 > fresh {
		t.Errorf("a pass released after each series allocated %d bytes, one never released %d: the frames given up are not reused", reused, fresh)
	}
}

// TestSealMergesRuns checks the index a seal makes from many appends
// whose series interleave, with chunks written again in later appends:
// across several index blocks every chunk reads back
// once, its last copy, sealed and after a reopen as before the seal.
func TestSealMergesRuns(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const ids, appends = 1200, 12
	want := map[[2]int64]string{} // id, first timestamp -> the last copy's bytes
	for a := range appends {
		var cs []Chunk
		for id := uint64(a % 3); id < ids; id += 3 { // every third series, shifting
			for p := range int64(3) {
				c := chunkOf(id, p)
				c.Data = fmt.Appendf(nil, "append %d of %d/%d", a, id, p)
				cs = append(cs, c)
				want[[2]int64{int64(id), c.FirstT}] = string(c.Data)
			}
		}
		if err := s.Append(cs); err != nil {
			t.Fatal(err)
		}
	}
	if len(want) <= 2*blockEntries {
		t.Fatalf("%d chunks: too few for several index blocks", len(want))
	}
	read := func(s *Store, when string) {
		t.Helper()
		r := s.NewReader()
		n := 0
		for id := range uint64(ids) {
			err := r.Chunks(id, 0, 2*piece, func(c Chunk) error {
				n++
				if w := want[[2]int64{int64(id), c.FirstT}]; string(c.Data) != w {
					t.Fatalf("%s: series %d at %d: %q, want %q", when, id, c.FirstT, c.Data, w)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if n != len(want) {
			t.Fatalf("%s: %d chunks read, want %d", when, n, len(want))
		}
	}
	read(s, "open")
	if err := s.Seal(); err != nil {
		t.Fatal(err)
	}
	read(s, "sealed")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	read(s, "reopened")
}

// BenchmarkSeal seals a file of 300 appends of 2,000 chunks each, the
// series of one append interleaved with those of the others, as the
// head's flushes write them; seal-B/op is what the seal allocates.
func BenchmarkSeal(b *testing.B) {
	const appends, per = 300, 2000
	data := []byte("sixteen bytes ..")
	var sealed uint64
	for b.Loop() {
		b.StopTimer()
		s, err := Open(b.TempDir(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		cs := make([]Chunk, per)
		for a := range appends {
			for i := range cs {
				id := uint64(i*appends + a)
				cs[i] = Chunk{ID: id, Piece: 0, FirstT: int64(a), Data: data}
			}
			if err := s.Append(cs); err != nil {
				b.Fatal(err)
			}
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		if err := s.Seal(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.ReadMemStats(&after)
		sealed += after.TotalAlloc - before.TotalAlloc
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(sealed)/float64(b.N), "seal-B/op")
}
