package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

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

func bucketOf(d time.Duration) int {
	if d <= bucketMin {
		return 0
	}
	i := int(math.Log(float64(d)/float64(bucketMin)) / math.Log(bucketGrowth))
	return min(i+1, bucketCount-1)
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
	ConnectFailures  int64   `json:"connect_failures"`
	DroppedByCore    int64   `json:"dropped_by_core"` // closed as too slow, or lost
	Seconds          float64 `json:"seconds"`
	Updates          int64   `json:"updates"`
	UpdatesPerSecond float64 `json:"updates_per_second"`
	P50ms            float64 `json:"p50_ms"`
	P90ms            float64 `json:"p90_ms"`
	P99ms            float64 `json:"p99_ms"`
	P999ms           float64 `json:"p999_ms"`
	MaxMs            float64 `json:"max_ms"`
	// CoreRSSBefore and CoreRSSAfter are the core's resident memory before
	// the first subscriber and with all of them connected and idle.
	CoreRSSBefore      float64 `json:"core_rss_before_bytes"`
	CoreRSSAfter       float64 `json:"core_rss_after_bytes"`
	BytesPerSubscriber float64 `json:"bytes_per_subscriber"`
}

func (r *result) print(w io.Writer) {
	fmt.Fprintf(w, "subscribers %d: %d connected, %d failed to connect, %d dropped by the core\n",
		r.Subscribers, r.Connected, r.ConnectFailures, r.DroppedByCore)
	fmt.Fprintf(w, "core RSS %.1f MiB before, %.1f MiB with all connected: %.1f KiB per subscriber\n",
		r.CoreRSSBefore/(1<<20), r.CoreRSSAfter/(1<<20), r.BytesPerSubscriber/1024)
	fmt.Fprintf(w, "%d host updates in %.0f s (%.0f/s across all subscribers)\n", r.Updates, r.Seconds, r.UpdatesPerSecond)
	fmt.Fprintf(w, "delay from the core applying a batch to the subscriber reading it: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, p99.9 %.1f ms, max %.1f ms\n",
		r.P50ms, r.P90ms, r.P99ms, r.P999ms, r.MaxMs)
}

// event is the part of a /ws/live event the delay needs.
type event struct {
	Type string `json:"type"`
	Host *struct {
		LastSeen time.Time `json:"last_seen"`
	} `json:"host"`
}

// measure connects n subscribers at ramp per second, lets them settle, then
// records the delay of every host update for the duration.
func measure(ctx context.Context, t *target, n, ramp int, duration time.Duration, progress io.Writer) (*result, error) {
	res := &result{Subscribers: n}
	var err error
	if res.CoreRSSBefore, err = t.metric("process_resident_memory_bytes"); err != nil {
		return nil, err
	}
	var (
		h         histogram
		recording atomic.Bool
		connected atomic.Int64
		failed    atomic.Int64
		dropped   atomic.Int64
		wg        sync.WaitGroup
	)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	subscribe := func() {
		defer wg.Done()
		ws, _, err := t.dialer.DialContext(runCtx, t.liveURL(), t.header())
		if err != nil {
			failed.Add(1)
			return
		}
		connected.Add(1)
		go func() { <-runCtx.Done(); ws.Close() }()
		for {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				if runCtx.Err() == nil {
					dropped.Add(1)
				}
				return
			}
			if !recording.Load() {
				continue
			}
			got := time.Now()
			var ev event
			if json.Unmarshal(msg, &ev) != nil || ev.Type != "host" || ev.Host == nil || ev.Host.LastSeen.IsZero() {
				continue
			}
			h.add(got.Sub(ev.Host.LastSeen))
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
	for connected.Load()+failed.Load() < int64(n) {
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if connected.Load() == 0 {
		return nil, errors.New("no subscriber could connect")
	}
	// Let the snapshots pass and the heap settle before reading memory.
	time.Sleep(3 * time.Second)
	if res.CoreRSSAfter, err = t.metric("process_resident_memory_bytes"); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "%d subscribers connected (%d failed); measuring for %s\n", connected.Load(), failed.Load(), duration)

	recording.Store(true)
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
	stop()
	wg.Wait()

	res.Connected, res.ConnectFailures, res.DroppedByCore = connected.Load(), failed.Load(), dropped.Load()
	res.BytesPerSubscriber = (res.CoreRSSAfter - res.CoreRSSBefore) / float64(res.Connected)
	var q []time.Duration
	res.Updates, q = h.quantiles(0.5, 0.9, 0.99, 0.999, 1)
	res.UpdatesPerSecond = float64(res.Updates) / res.Seconds
	res.P50ms, res.P90ms, res.P99ms, res.P999ms, res.MaxMs = ms(q[0]), ms(q[1]), ms(q[2]), ms(q[3]), ms(q[4])
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
