package store

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the store's own figures. They exist (unregistered) even
// when no Registerer is given, so the code never checks for nil.
type metrics struct {
	appended     prometheus.Counter
	duplicates   prometheus.Counter
	invalid      prometheus.Counter
	backpressure prometheus.Counter
	walSync      prometheus.Histogram
	tornRecords  prometheus.Counter
	corruptLog   prometheus.Counter
	checkpoints  prometheus.Counter
	quotients    prometheus.Counter
	segmentCuts  prometheus.Counter
	emptyLogs    prometheus.Counter
	rollup       *prometheus.HistogramVec
	retention    prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		appended: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_store_appended_samples_total",
			Help: "Samples appended to the store."}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_store_duplicate_samples_total",
			Help: "Samples skipped because their series already had a sample at or after their time (resent batches)."}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_store_invalid_samples_total",
			Help: "Samples refused because their value was NaN or infinite or their series had no metric name."}),
		backpressure: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_store_backpressure_waits_total",
			Help: "Appends that waited because the write-ahead log or the chunk flusher fell behind."}),
		walSync: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "esmon_store_wal_fsync_seconds",
			Help:    "Latency of the write-ahead log's fsync (one per group commit).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}}),
		tornRecords: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_store_wal_torn_records_total",
			Help: "Torn records cut from the end of the write-ahead log at start."}),
		corruptLog: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_store_wal_repairs_total",
			Help: "Damaged write-ahead logs cut at the damage at start (storage.repair_wal)."}),
		checkpoints: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_store_checkpoints_total",
			Help: "Head checkpoints written (each lets older log segments go)."}),
		quotients: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_store_quotient_chunks_total",
			Help: "Raw chunks written as the exact percentage of two other series' chunks of their host (used over total bytes) instead of values of their own."}),
		segmentCuts: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_store_segment_tail_cuts_total",
			Help: "Segment files of raw chunks cut after their last whole frame at start (a write torn by a crash; its chunks are replayed from the write-ahead log)."}),
		emptyLogs: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_store_empty_badger_logs_removed_total",
			Help: "Empty Badger memtable or value-log files removed at start (created by a process killed before it wrote their header; Badger cannot open a directory with one)."}),
		rollup: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "esmon_store_rollup_seconds",
			Help:    "Time to roll up one hour of every series into a tier (1m, 1h), paced waits included; failed runs are not counted.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600}}, []string{"tier"}),
		retention: prometheus.NewCounter(prometheus.CounterOpts{Name: "esmon_store_retention_scanned_keys_total",
			Help: "Rollup keys the retention job read looking for rollups older than their tier's retention: only after a tier's retention was shortened, until the rollups written under the longer one are past it (Badger's TTL drops the others)."}),
	}
}

func (d *DB) register(reg prometheus.Registerer) error {
	m := d.m
	cs := []prometheus.Collector{m.appended, m.duplicates, m.invalid, m.backpressure, m.walSync, m.tornRecords, m.corruptLog, m.checkpoints, m.quotients, m.segmentCuts, m.emptyLogs, m.rollup, m.retention,
		&watermarks{d: d, desc: prometheus.NewDesc("esmon_store_rollup_watermark_seconds",
			"Unix time before which a tier's rollups are stored (1h follows the clock by one to two hours; 1m by the raw retention less a day, as queries compute the rest from the raw samples); absent before the first rollup.",
			[]string{"tier"}, nil)},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "esmon_store_pending_chunk_bytes",
			Help: "Bytes of finished chunks waiting to be written to the segment files."},
			func() float64 { d.hmu.Lock(); defer d.hmu.Unlock(); return float64(d.pendingBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "esmon_store_segment_files",
			Help: "Segment files of raw chunks (one open, the others sealed)."},
			func() float64 { return float64(d.segs.Files()) }),
		&tierBytes{d: d, desc: prometheus.NewDesc("esmon_store_bytes",
			"Bytes on disk by tier: raw chunks, 1m and 1h rollups, index and other records (Badger tables attributed by their first key), wal, and Badger's value log.",
			[]string{"tier"}, nil)},
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// tierBytes reports store bytes per tier when scraped.
type tierBytes struct {
	d    *DB
	desc *prometheus.Desc
}

func (t *tierBytes) Describe(ch chan<- *prometheus.Desc) { ch <- t.desc }

func (t *tierBytes) Collect(ch chan<- prometheus.Metric) {
	for tier, n := range t.d.BytesByTier() {
		ch <- prometheus.MustNewConstMetric(t.desc, prometheus.GaugeValue, float64(n), tier)
	}
}

// BytesByTier attributes the store's on-disk bytes to raw, 1m, 1h, index
// (everything else in Badger's tables), vlog and wal, all zero once the
// store is closed. A Badger table that spans two prefixes is counted
// under its first key's.
func (d *DB) BytesByTier() map[string]int64 {
	out := map[string]int64{TierRaw: 0, TierMinute: 0, TierHour: 0, "index": 0, "vlog": 0, "wal": 0}
	if d.opts.InMemory {
		return out
	}
	if !d.badger.enter() {
		return out
	}
	defer d.badger.leave()
	for _, ti := range d.db.Tables() {
		tier := "index"
		if len(ti.Left) > 0 {
			switch ti.Left[0] {
			case prefixChunk:
				tier = TierRaw
			case prefixRollup:
				tier = TierMinute
				if len(ti.Left) > 1 {
					tier = tierName(ti.Left[1])
				}
			}
		}
		out[tier] += int64(ti.OnDiskSize)
	}
	out[TierRaw] += d.segs.Size()
	_, vlog := d.db.Size()
	out["vlog"] = vlog
	if d.wal != nil {
		out["wal"] = d.wal.Size()
	}
	return out
}

// watermarks reports each rollup tier's watermark when scraped.
type watermarks struct {
	d    *DB
	desc *prometheus.Desc
}

func (w *watermarks) Describe(ch chan<- *prometheus.Desc) { ch <- w.desc }

func (w *watermarks) Collect(ch chan<- prometheus.Metric) {
	for _, code := range []byte{tierMinuteCode, tierHourCode} {
		if wm := w.d.watermark(code); wm != unset {
			ch <- prometheus.MustNewConstMetric(w.desc, prometheus.GaugeValue, float64(wm)/1000, tierName(code))
		}
	}
}
