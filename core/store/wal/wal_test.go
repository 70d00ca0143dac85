package wal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func replayAll(t *testing.T, dir string, repair bool) ([][]byte, ReplayStats, error) {
	t.Helper()
	var out [][]byte
	st, err := Replay(dir, 0, repair, func(r []byte) error { out = append(out, bytes.Clone(r)); return nil })
	return out, st, err
}

func writeRecords(t *testing.T, dir string, n int, segSize int64) {
	t.Helper()
	l, err := Open(Options{Dir: dir, SegmentSize: segSize})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 4 {
				pos, err := l.Append([]byte(fmt.Sprintf("record %05d", i)))
				if err == nil {
					err = l.Wait(pos)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestAppendReplay(t *testing.T) {
	dir := t.TempDir()
	writeRecords(t, dir, 1000, 4096)
	recs, st, err := replayAll(t, dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1000 || st.Segments < 3 || st.TornTails != 0 {
		t.Fatalf("records %d, stats %+v", len(recs), st)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		seen[string(r)] = true
	}
	if len(seen) != 1000 {
		t.Fatalf("%d distinct records", len(seen))
	}
}

func TestCutAndTruncate(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Append([]byte("old"))
	seg, err := l.Cut()
	if err != nil {
		t.Fatal(err)
	}
	pos, _ := l.Append([]byte("new"))
	if err := l.Wait(pos); err != nil {
		t.Fatal(err)
	}
	if err := l.Truncate(seg); err != nil {
		t.Fatal(err)
	}
	recs, _, err := replayAll(t, dir, false)
	if err != nil || len(recs) != 1 || string(recs[0]) != "new" {
		t.Fatalf("after truncate: %q %v", recs, err)
	}
}

func TestDamage(t *testing.T) {
	tests := []struct {
		name       string
		damage     func(t *testing.T, segs []string)
		wantErr    bool
		wantTorn   int
		wantRecs   int // after a repairing replay
		wantRepair bool
	}{
		{"clean", func(*testing.T, []string) {}, false, 0, 100, false},
		{"half a record at the tail", func(t *testing.T, segs []string) {
			appendFile(t, segs[len(segs)-1], []byte{20, 0, 0, 0, 1, 2, 3, 4, 'x'})
		}, false, 1, 100, false},
		{"short header at the tail", func(t *testing.T, segs []string) {
			appendFile(t, segs[len(segs)-1], []byte{20, 0})
		}, false, 1, 100, false},
		{"zeros at the tail", func(t *testing.T, segs []string) {
			appendFile(t, segs[len(segs)-1], make([]byte, 4096))
		}, false, 1, 100, false},
		{"bad checksum at the tail", func(t *testing.T, segs []string) {
			f := segs[len(segs)-1]
			b, _ := os.ReadFile(f)
			b[len(b)-1] ^= 0xff
			os.WriteFile(f, b, 0o600)
		}, false, 1, 99, false},
		{"bad checksum in the middle", func(t *testing.T, segs []string) {
			b, _ := os.ReadFile(segs[0])
			b[headerSize] ^= 0xff
			os.WriteFile(segs[0], b, 0o600)
		}, true, 0, 0, true},
		{"garbage length in an earlier segment", func(t *testing.T, segs []string) {
			b, _ := os.ReadFile(segs[1])
			b[3] = 0x7f
			os.WriteFile(segs[1], b, 0o600)
		}, true, 0, -1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeRecords(t, dir, 100, 512)
			idx, _ := Segments(dir)
			var segs []string
			for _, i := range idx {
				if fi, _ := os.Stat(SegmentName(dir, i)); fi.Size() > 0 {
					segs = append(segs, SegmentName(dir, i))
				}
			}
			tc.damage(t, segs)
			recs, st, err := replayAll(t, dir, false)
			var ce *CorruptError
			if tc.wantErr != errors.As(err, &ce) {
				t.Fatalf("err = %v, want corruption %v", err, tc.wantErr)
			}
			if tc.wantErr {
				recs, st, err = replayAll(t, dir, true)
				if err != nil || (st.Repaired != nil) != tc.wantRepair {
					t.Fatalf("repair: %v %+v", err, st)
				}
			}
			if st.TornTails != tc.wantTorn {
				t.Fatalf("torn tails %d, want %d", st.TornTails, tc.wantTorn)
			}
			if tc.wantRecs >= 0 && len(recs) != tc.wantRecs {
				t.Fatalf("%d records, want %d", len(recs), tc.wantRecs)
			}
			// The cut log replays clean afterwards.
			again, st2, err := replayAll(t, dir, false)
			if err != nil || st2.TornTails != 0 || len(again) != len(recs) {
				t.Fatalf("second replay: %d records %+v %v", len(again), st2, err)
			}
		})
	}
}

func appendFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(b)
	f.Close()
}

func TestBackpressure(t *testing.T) {
	l, err := Open(Options{Dir: t.TempDir(), MaxPending: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range 50 {
		if _, err := l.WaitRoom(); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Cut(); err != nil {
		t.Fatal(err)
	}
}

func FuzzScan(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{5, 0, 0, 0, 0, 0, 0, 0, 'h', 'e', 'l', 'l', 'o'})
	f.Add(frame([]byte("hello")))
	f.Add(append(frame([]byte("a")), frame([]byte("bc"))...))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, last := range []bool{false, true} {
			n, end, err := scan(b, last, func(r []byte) error {
				if len(r) > len(b) {
					t.Fatal("record longer than input")
				}
				return nil
			})
			if end < 0 || end > int64(len(b)) || n < 0 {
				t.Fatalf("end %d n %d", end, n)
			}
			var ce *CorruptError
			if err != nil && !errors.As(err, &ce) {
				t.Fatalf("unexpected error type %v", err)
			}
		}
	})
}

func frame(r []byte) []byte {
	var b []byte
	b = append(b, byte(len(r)), 0, 0, 0)
	sum := crcOf(r)
	b = append(b, byte(sum), byte(sum>>8), byte(sum>>16), byte(sum>>24))
	return append(b, r...)
}
