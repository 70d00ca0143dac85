package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"esmon/core/store/chunkenc"
	"esmon/internal/flock"
)

// The kill -9 test runs this test binary again as a child that appends
// under load and prints a line for every batch the store acknowledged;
// the parent kills it at a random moment, reopens the store and checks
// that every acknowledged sample is there, bit for bit.
const (
	crashChildEnv = "ESMON_STORE_CRASH_CHILD" // data directory of the child
	crashRoundEnv = "ESMON_STORE_CRASH_ROUND"
	crashBaseEnv  = "ESMON_STORE_CRASH_BASE" // first timestamp, recent: Badger's TTL runs on the real clock
	crashWriters  = 4
	crashSeries   = 20
)

// crashTime is the timestamp of batch seq of round r: rounds an hour
// apart, batches a second apart.
func crashTime(base int64, r, seq int) int64 { return base + int64(r)*hourMS + int64(seq)*1000 }

// crashValue is the value of series s of writer g at t: full-precision
// floats, different everywhere, so any mix-up shows; but series 0 and 1
// are integers (bytes total and used), series 2 is used over total times
// 100 and series 3 total minus used, so that the flushes the kills land in
// write quotient chunks of both kinds (quotient.go) too.
func crashValue(g, s int, t int64) float64 {
	rng := func(s int) *rand.Rand { return rand.New(rand.NewPCG(uint64(t), uint64(g*1000+s))) }
	switch s {
	case 0:
		return float64(16e9 + rng(0).Int64N(1000))
	case 1:
		return float64(rng(1).Int64N(16e9))
	case 2:
		return crashValue(g, 1, t) / crashValue(g, 0, t) * 100
	case 3:
		return crashValue(g, 0, t) - crashValue(g, 1, t)
	}
	return rng(s).Float64() * 100
}

func crashSample(g, s int, t int64) Sample {
	return Sample{Metric: "m" + strconv.Itoa(s), Labels: hostLabels("w" + strconv.Itoa(g)), T: t, V: crashValue(g, s, t)}
}

// crashChild appends until killed. Small flush and checkpoint sizes make
// the kills land in flushes and checkpoints too.
func crashChild() {
	r, _ := strconv.Atoi(os.Getenv(crashRoundEnv))
	base, _ := strconv.ParseInt(os.Getenv(crashBaseEnv), 10, 64)
	db, err := Open(Options{Dir: os.Getenv(crashChildEnv), Logger: quietLog, FlushEvery: 20 * time.Millisecond,
		FlushBytes: 16 << 10, CheckpointBytes: 64 << 10})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range crashWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; ; seq++ {
				t := crashTime(base, r, seq)
				batch := make([]Sample, crashSeries)
				for s := range batch {
					batch[s] = crashSample(g, s, t)
				}
				if err := db.Append(context.Background(), batch); err != nil {
					fmt.Println("error", err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Printf("ack %d %d %d\n", r, g, seq)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func TestKill9UnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a child process 22 times")
	}
	const rounds = 22
	dir := t.TempDir()
	base := time.Now().UnixMilli() - 2*dayMS
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	acked := make([][crashWriters]int, rounds) // batches acknowledged per round and writer
	total := 0
	for r := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashRoundEnv+"="+strconv.Itoa(r), crashBaseEnv+"="+strconv.FormatInt(base, 10))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		var kill <-chan time.Time
		for line := range lines {
			switch f := strings.Fields(line); {
			case line == "ready":
				kill = time.After(time.Duration(50+rng.IntN(400)) * time.Millisecond)
			case len(f) == 4 && f[0] == "ack":
				g, _ := strconv.Atoi(f[2])
				seq, _ := strconv.Atoi(f[3])
				acked[r][g] = seq + 1
			default:
				cmd.Process.Kill()
				t.Fatalf("round %d: child said %q", r, line)
			}
			select {
			case <-kill:
				cmd.Process.Signal(syscall.SIGKILL)
				kill = nil
			default:
			}
		}
		cmd.Wait()
		n := 0
		for g := range crashWriters {
			n += acked[r][g]
		}
		total += n
		t.Logf("round %d: killed after %d acknowledged batches", r, n)
		verifyCrashRounds(t, dir, base, acked[:r+1])
	}
	if total == 0 {
		t.Fatal("no batch was acknowledged in any round")
	}
	// The percentages went to the segment files as quotient chunks, which the checks
	// above read back through their operands.
	db := open(t, Options{Dir: dir})
	defer db.Close()
	quotients, diffs := 0, 0
	for _, cs := range storedChunks(t, db) {
		for _, c := range cs {
			if chunkenc.IsQuotient(c.Data) {
				quotients++
				if q, err := chunkenc.ParseQuotient(c.Data); err == nil && q.Form == chunkenc.FormDiff {
					diffs++
				}
			}
		}
	}
	if quotients == 0 || diffs == 0 {
		t.Errorf("%d quotient chunks stored, %d of them differences: the kills never landed around one", quotients, diffs)
	}
	t.Logf("%d quotient chunks, %d of them differences", quotients, diffs)
}

// verifyCrashRounds opens the store and checks every acknowledged sample
// of the rounds so far, and that nothing stored differs from what was
// written.
func verifyCrashRounds(t *testing.T, dir string, base int64, acked [][crashWriters]int) {
	t.Helper()
	db := open(t, Options{Dir: dir})
	defer func() {
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}()
	for g := range crashWriters {
		for s := range crashSeries {
			sel, err := db.Select(context.Background(), Query{Metric: "m" + strconv.Itoa(s),
				Match: map[string]string{"host": "w" + strconv.Itoa(g)}, From: 0, To: math.MaxInt64 / 2})
			if err != nil {
				t.Fatal(err)
			}
			have := map[int64]float64{}
			if len(sel.Series) == 1 {
				for _, p := range sel.Series[0].Points {
					have[p.T] = p.V
				}
			}
			for tm, v := range have {
				if want := crashValue(g, s, tm); math.Float64bits(v) != math.Float64bits(want) {
					t.Fatalf("writer %d series %d at %d: stored %v, written %v", g, s, tm, v, want)
				}
			}
			for r, a := range acked {
				for seq := range a[g] {
					if _, ok := have[crashTime(base, r, seq)]; !ok {
						t.Fatalf("round %d writer %d series %d: acknowledged batch %d of %d is missing", r, g, s, seq, a[g])
					}
				}
			}
		}
	}
}

// A process killed between creating a Badger memtable or value-log file
// and writing its header leaves it empty, and Badger alone then refuses
// to open the directory (run r9 of issue 10's thirtieth round). Open
// removes such files, counts them, and keeps everything stored.
func TestOpenRemovesEmptyBadgerLogs(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	base := floorTo(time.Now().UnixMilli()-dayMS, hourMS)
	var in []Sample
	for i := int64(0); i < 50; i++ {
		in = append(in, Sample{Metric: "cpu_usage_percent", Labels: hostLabels("a"), T: base + 1000*i, V: float64(i)})
	}
	if err := db.Append(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := db.Put([]byte("kv"), []byte("kept")); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// The names Badger would give its next files: memtables "%05d.mem",
	// value logs "%06d.vlog".
	for _, name := range []string{"00999.mem", "009999.vlog"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("open with empty Badger log files: %v", err)
	}
	defer db.Close()
	if got := counterValue(db.m.emptyLogs); got != 2 {
		t.Errorf("esmon_store_empty_badger_logs_removed_total = %v, want 2", got)
	}
	for _, name := range []string{"00999.mem", "009999.vlog"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && fi.Size() == 0 {
			t.Errorf("%s still empty after open", name)
		}
	}
	sel, err := db.Select(ctx, Query{Metric: "cpu_usage_percent", From: base, To: base + 1e9})
	if err != nil {
		t.Fatal(err)
	}
	if len(sel.Series) != 1 || len(sel.Series[0].Points) != 50 {
		t.Fatalf("after reopen: %d series, want 1 with 50 points (%+v)", len(sel.Series), sel.Series)
	}
	if v, err := db.Get([]byte("kv")); err != nil || string(v) != "kept" {
		t.Fatalf("KV after reopen: %q, %v", v, err)
	}
}

// TestOpenLeavesADirectoryInUseAlone: a second Open of a directory a store
// holds fails on the store's claim before it changes anything, so the
// empty memtable the running store has just created (and not yet sized)
// is not taken for one a killed process left.
func TestOpenLeavesADirectoryInUseAlone(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(dir, "00999.mem")
	if err := os.WriteFile(fresh, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	second, err := Open(Options{Dir: dir})
	if err == nil {
		second.Close()
		t.Fatal("a second Open of a directory in use succeeded")
	}
	if !errors.Is(err, flock.ErrLocked) || !strings.Contains(err.Error(), "another process has it open") {
		t.Errorf("second Open: %v, want the claim's error", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("the running store's empty memtable after a second Open: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Closed, the directory is free again, and the empty file is now
	// one a process left.
	db, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("open after the first store closed: %v", err)
	}
	defer db.Close()
	if got := counterValue(db.m.emptyLogs); got != 1 {
		t.Errorf("esmon_store_empty_badger_logs_removed_total = %v, want 1", got)
	}
}
