package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"math/rand/v2"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// connectFor is how long a subscriber keeps trying to connect.
const connectFor = 2 * time.Minute

// histogram counts delays in buckets 2% wide from 10 µs to about 3 minutes;
// safe for concurrent use.
type histogram struct {
	counts [bucketCount]atomic.Int64
	max    atomic.Int64 // nanoseconds
}

const (
	bucketMin    = 10 * time.Microsecond
	bucketGrowth = 1.02
	bucketCount  = 850
)

// bucketOf is the bucket of d: 0 up to bucketMin, then i for d from
// upper(i-1) to below upper(i). A thousand subscribers put a couple of
// million delays a second through it on the machine that runs the core,
// so it looks the bucket up by d's leading bits (bucketStart) instead of
// taking a logarithm, then steps past at most an edge or two.
func bucketOf(d time.Duration) int {
	if d <= bucketMin {
		return 0
	}
	l := bits.Len64(uint64(d))
	b := int(bucketStart[l<<8|int(uint64(d)>>(l-9)&0xff)])
	for b < bucketCount-1 && bucketEdges[b] <= d {
		b++
	}
	return b
}

// bucketEdges[i] is the least delay past bucket i: bucketMin and a
// nanosecond for bucket 0, upper(i) for the others. bucketStart gives,
// for a delay's bit length l (over 9) and the 8 bits after its leading
// one, the bucket of the least delay with those bits; the delays sharing
// them span a ratio of at most 257/256, under a bucket's 2%.
var (
	bucketEdges [bucketCount]time.Duration
	bucketStart [64 << 8]uint16
)

func init() {
	bucketEdges[0] = bucketMin + 1
	for i := 1; i < bucketCount; i++ {
		bucketEdges[i] = upper(i)
	}
	for l := 10; l < 64; l++ {
		for m := 256; m < 512; m++ {
			least := time.Duration(m) << (l - 9)
			b, _ := slices.BinarySearch(bucketEdges[:], least+1)
			bucketStart[l<<8|(m-256)] = uint16(min(b, bucketCount-1))
		}
	}
}

// upper is the upper edge of bucket i.
func upper(i int) time.Duration {
	return time.Duration(float64(bucketMin) * math.Pow(bucketGrowth, float64(i)))
}

func (h *histogram) add(d time.Duration) {
	h.counts[bucketOf(d)].Add(1)
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// quantiles returns the count and the delays at qs (bucket upper edges).
func (h *histogram) quantiles(qs ...float64) (int64, []time.Duration) {
	var snap [bucketCount]int64
	var total int64
	for i := range snap {
		snap[i] = h.counts[i].Load()
		total += snap[i]
	}
	out := make([]time.Duration, len(qs))
	for k, q := range qs {
		rank := int64(math.Ceil(q * float64(total)))
		var seen int64
		for i, c := range snap {
			seen += c
			if seen >= rank && c > 0 {
				out[k] = min(upper(i), time.Duration(h.max.Load()))
				break
			}
		}
	}
	return total, out
}

// result is what a run measured.
type result struct {
	Subscribers      int     `json:"subscribers"`
	Connected        int64   `json:"connected"`
	ConnectFailures  int64   `json:"connect_failures"` // attempts, each retried (connectFor)
	DroppedByCore    int64   `json:"dropped_by_core"`  // closed as too slow, or lost
	Seconds          float64 `json:"seconds"`
	Updates          int64   `json:"updates"`
	UpdatesPerSecond float64 `json:"updates_per_second"`
	Messages         int64   `json:"messages"`
	Bytes            int64   `json:"bytes"`
	P50ms            float64 `json:"p50_ms"`
	P90ms            float64 `json:"p90_ms"`
	P99ms            float64 `json:"p99_ms"`
	P999ms           float64 `json:"p999_ms"`
	MaxMs            float64 `json:"max_ms"`
	// Snapshot*: from a subscriber's first dial to the end of its first
	// message, the snapshot: how long a dashboard took to load.
	SnapshotP50ms float64 `json:"snapshot_p50_ms"`
	SnapshotP99ms float64 `json:"snapshot_p99_ms"`
	SnapshotMaxMs float64 `json:"snapshot_max_ms"`
	// Before and After are the core's memory before the first subscriber
	// and with all of them connected and receiving: each the median (the
	// heap's low point: the minimum) of samples over a few seconds, so
	// that one garbage collection does not decide the figure.
	Before memory `json:"core_before"`
	After  memory `json:"core_after"`
	// BytesPerSubscriber is the growth of the core's resident memory per
	// connected subscriber. RSS follows the garbage collector's cycle
	// (the heap runs up to its goal, twice the live heap, before each
	// collection), so it is noisy; the figures below are not:
	// LivePerSubscriber is the growth of the live heap, as the collector
	// found it at its last collection (from its heap goal), and
	// StackPerSubscriber that of the goroutine stacks. Their sum is what
	// the subscribers hold; GoalPerSubscriber, twice the live heap plus the
	// stacks, is what they cost in a steady state at GOGC=100.
	BytesPerSubscriber float64 `json:"bytes_per_subscriber"`
	HeapPerSubscriber  float64 `json:"heap_bytes_per_subscriber"`
	LivePerSubscriber  float64 `json:"live_heap_bytes_per_subscriber"`
	StackPerSubscriber float64 `json:"stack_bytes_per_subscriber"`
	GoalPerSubscriber  float64 `json:"gc_goal_bytes_per_subscriber"`
}

// memory is the core's memory as its /metrics tell it.
type memory struct {
	RSS        float64 `json:"rss_bytes"`
	HeapLow    float64 `json:"heap_alloc_low_bytes"`
	Stacks     float64 `json:"stack_inuse_bytes"`
	Goroutines float64 `json:"goroutines"`
	// LiveHeap is the heap the last collection found live: its goal
	// (next_gc) is the live heap plus GOGC% of the live heap, the stacks
	// and globals; the globals cancel out of a difference.
	LiveHeap float64 `json:"live_heap_bytes"`
	GCs      float64 `json:"gc_count"`
}

func (r *result) print(w io.Writer) {
	fmt.Fprintf(w, "subscribers %d: %d connected, %d connection attempts failed (and were retried), %d dropped by the core\n",
		r.Subscribers, r.Connected, r.ConnectFailures, r.DroppedByCore)
	fmt.Fprintf(w, "core RSS %.1f MiB before, %.1f MiB with all connected: %.1f KiB per subscriber\n",
		r.Before.RSS/(1<<20), r.After.RSS/(1<<20), r.BytesPerSubscriber/1024)
	fmt.Fprintf(w, "core live heap at the last collection %.1f → %.1f MiB: %.1f KiB per subscriber; stacks %.1f → %.1f MiB: %.1f KiB per subscriber; goroutines %.0f → %.0f\n",
		r.Before.LiveHeap/(1<<20), r.After.LiveHeap/(1<<20), r.LivePerSubscriber/1024,
		r.Before.Stacks/(1<<20), r.After.Stacks/(1<<20), r.StackPerSubscriber/1024, r.Before.Goroutines, r.After.Goroutines)
	fmt.Fprintf(w, "per subscriber: %.1f KiB held (live heap + stack), %.1f KiB with the collector's headroom (2 × live heap + stack, GOGC=100); heap low point %+.1f KiB\n",
		(r.LivePerSubscriber+r.StackPerSubscriber)/1024, r.GoalPerSubscriber/1024, r.HeapPerSubscriber/1024)
	fmt.Fprintf(w, "%d host updates in %.0f s (%.0f/s across all subscribers), in %d messages, %.1f MB\n",
		r.Updates, r.Seconds, r.UpdatesPerSecond, r.Messages, float64(r.Bytes)/1e6)
	fmt.Fprintf(w, "snapshot (the page loaded) after its first dial: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
		r.SnapshotP50ms, r.SnapshotP99ms, r.SnapshotMaxMs)
	fmt.Fprintf(w, "delay from the core applying a batch to the subscriber reading it: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, p99.9 %.1f ms, max %.1f ms\n",
		r.P50ms, r.P90ms, r.P99ms, r.P999ms, r.MaxMs)
}

// sampleMemory reads the core's memory n times, interval apart, and
// returns the medians (the minimum for the heap, whose low point after a
// collection is its live size).
func sampleMemory(ctx context.Context, t *target, n int, interval time.Duration) (memory, error) {
	var rss, heap, stacks, gs []float64
	var last []float64
	for i := range n {
		if i > 0 {
			select {
			case <-time.After(interval):
			case <-ctx.Done():
				return memory{}, ctx.Err()
			}
		}
		m, err := t.metrics("process_resident_memory_bytes", "go_memstats_heap_alloc_bytes",
			"go_memstats_stack_inuse_bytes", "go_goroutines", "go_memstats_next_gc_bytes",
			"go_gc_duration_seconds_count", "go_gc_gogc_percent")
		if err != nil {
			if i < n-1 || len(rss) > 0 {
				continue // a busy core may miss a sample
			}
			return memory{}, err
		}
		rss = append(rss, m[0])
		heap = append(heap, m[1])
		stacks = append(stacks, m[2])
		gs = append(gs, m[3])
		last = m
	}
	gogc := last[6]
	if gogc <= 0 {
		gogc = 100
	}
	return memory{RSS: median(rss), HeapLow: slices.Min(heap), Stacks: median(stacks), Goroutines: median(gs),
		LiveHeap: (last[4] - last[6]/100*last[2]) / (1 + gogc/100), GCs: last[5]}, nil
}

// waitGCs waits, up to a minute, until the core has collected n more times.
func waitGCs(ctx context.Context, t *target, n float64) error {
	m, err := t.metrics("go_gc_duration_seconds_count")
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		select {
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
		if now, err := t.metrics("go_gc_duration_seconds_count"); err == nil && now[0] >= m[0]+n {
			return nil
		}
	}
	return nil // a core that does not collect: its goal still stands
}

func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}

// measure connects n subscribers at ramp per second, lets them settle, then
// records the delay of every host update for the duration.
func measure(ctx context.Context, t *target, n, ramp int, duration time.Duration, cpuProfile io.Writer, progress io.Writer) (*result, error) {
	res := &result{Subscribers: n}
	if err := waitGCs(ctx, t, 2); err != nil {
		return nil, err
	}
	var err error
	if res.Before, err = sampleMemory(ctx, t, memorySamples, memoryInterval); err != nil {
		return nil, err
	}
	var (
		h         histogram
		loads     histogram    // dial to snapshot
		lost      atomic.Int64 // closed before the snapshot came
		recording atomic.Bool
		connected atomic.Int64
		failed    atomic.Int64
		dropped   atomic.Int64
		messages  atomic.Int64
		bytesRead atomic.Int64
		wg        sync.WaitGroup
	)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	// A subscriber whose connection attempt fails tries again after a
	// second or two, as the web page does, until connectFor has passed
	// since its first; failed counts the failed attempts, gaveUp the
	// subscribers that never got through.
	var gaveUp atomic.Int64
	subscribe := func() {
		defer wg.Done()
		first := time.Now()
		var ws *websocket.Conn
		for {
			var err error
			ws, _, err = t.dialer.DialContext(runCtx, t.liveURL(), t.header())
			if err == nil {
				break
			}
			failed.Add(1)
			if runCtx.Err() != nil || time.Since(first) > connectFor {
				gaveUp.Add(1)
				return
			}
			select {
			case <-time.After(time.Second + time.Duration(rand.Int64N(int64(time.Second)))):
			case <-runCtx.Done():
			}
		}
		go func() { <-runCtx.Done(); ws.Close() }()
		// A subscriber counts as connected once it has its snapshot, the
		// page loaded: until then it has nothing to update. The snapshot
		// is not an update, and is read without being kept (a thousand
		// pages' 3 MB snapshots would be gigabytes of this process):
		// only its first bytes, which hold the feed's epoch.
		var sc scanner
		if _, r, err := ws.NextReader(); err != nil || func() error {
			head := make([]byte, 64)
			n, err := io.ReadFull(r, head)
			if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
				return err
			}
			sc.scan(head[:n], time.Time{}, nil)
			_, err = io.Copy(io.Discard, r)
			return err
		}() != nil {
			if runCtx.Err() == nil {
				dropped.Add(1)
			}
			lost.Add(1)
			return
		}
		loads.add(time.Since(first))
		connected.Add(1)
		var buf []byte
		for {
			_, r, err := ws.NextReader()
			if err != nil {
				if runCtx.Err() == nil {
					dropped.Add(1)
				}
				return
			}
			if buf, err = readAll(r, buf[:0]); err != nil {
				if runCtx.Err() == nil {
					dropped.Add(1)
				}
				return
			}
			if !recording.Load() {
				sc.scan(buf, time.Time{}, nil) // for the feed's epoch
				continue
			}
			got := time.Now()
			messages.Add(1)
			bytesRead.Add(int64(len(buf)))
			sc.scan(buf, got, h.add)
		}
	}
	tick := time.NewTicker(time.Second / time.Duration(ramp))
	for i := 0; i < n; i++ {
		select {
		case <-tick.C:
		case <-ctx.Done():
			tick.Stop()
			return nil, ctx.Err()
		}
		wg.Add(1)
		go subscribe()
	}
	tick.Stop()
	for connected.Load()+gaveUp.Load()+lost.Load() < int64(n) {
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if connected.Load() == 0 {
		return nil, errors.New("no subscriber could connect")
	}
	// Let the snapshots pass, and the collector run twice, before reading
	// memory: its heap goal then counts the subscribers.
	time.Sleep(3 * time.Second)
	if err := waitGCs(ctx, t, 2); err != nil {
		return nil, err
	}
	if res.After, err = sampleMemory(ctx, t, memorySamples, memoryInterval); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "%d subscribers connected and loaded (%d attempts failed and were retried, %d gave up, %d closed before their snapshot); measuring for %s\n",
		connected.Load(), failed.Load(), gaveUp.Load(), lost.Load(), duration)

	recording.Store(true)
	if cpuProfile != nil {
		// The measured window only: not the connects and snapshots.
		if err := pprof.StartCPUProfile(cpuProfile); err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
	}
	began := time.Now()
	every := time.NewTicker(10 * time.Second)
	defer every.Stop()
	end := time.After(duration)
wait:
	for {
		select {
		case <-every.C:
			c, q := h.quantiles(0.99)
			fmt.Fprintf(progress, "  %4.0f s: %d updates, p99 %.1f ms, %d dropped\n", time.Since(began).Seconds(), c, ms(q[0]), dropped.Load())
		case <-end:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	recording.Store(false)
	res.Seconds = time.Since(began).Seconds()
	if cpuProfile != nil {
		pprof.StopCPUProfile()
	}
	stop()
	wg.Wait()

	res.Connected, res.ConnectFailures, res.DroppedByCore = connected.Load(), failed.Load(), dropped.Load()
	res.Messages, res.Bytes = messages.Load(), bytesRead.Load()
	per := func(a, b float64) float64 { return (b - a) / float64(res.Connected) }
	res.BytesPerSubscriber = per(res.Before.RSS, res.After.RSS)
	res.HeapPerSubscriber = per(res.Before.HeapLow, res.After.HeapLow)
	res.StackPerSubscriber = per(res.Before.Stacks, res.After.Stacks)
	res.LivePerSubscriber = per(res.Before.LiveHeap, res.After.LiveHeap)
	res.GoalPerSubscriber = 2*res.LivePerSubscriber + res.StackPerSubscriber
	var q []time.Duration
	res.Updates, q = h.quantiles(0.5, 0.9, 0.99, 0.999, 1)
	res.UpdatesPerSecond = float64(res.Updates) / res.Seconds
	res.P50ms, res.P90ms, res.P99ms, res.P999ms, res.MaxMs = ms(q[0]), ms(q[1]), ms(q[2]), ms(q[3]), ms(q[4])
	_, q = loads.quantiles(0.5, 0.99, 1)
	res.SnapshotP50ms, res.SnapshotP99ms, res.SnapshotMaxMs = ms(q[0]), ms(q[1]), ms(q[2])
	return res, nil
}

// Memory is sampled this many times, this far apart, before and after the
// subscribers connect.
const (
	memorySamples  = 11
	memoryInterval = 500 * time.Millisecond
)

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
