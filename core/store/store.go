// Package store keeps everything the core persists: time series (behind
// the Series interface, so the storage issue can replace the layout
// without touching callers) and small records for the other parts (hosts,
// rules, alert state and history) through the KV interface.
//
// The series part is a time-series store in the manner of Gorilla and the
// Prometheus TSDB: an in-memory head per series appended to in compressed
// form (package chunkenc), a write-ahead log with group commit (package
// wal) so that Append returns only once samples are on disk, finished
// chunks appended to segment files of the store's own (package segment:
// never compacted, removed whole at retention), a series index with
// postings by host and metric, a latest-value table in memory, and 1-minute
// and 1-hour rollups with a retention per tier. Badger holds the series
// index, the rollups and the other parts' records. See head.go, index.go,
// query.go, rollup.go and checkpoint.go.
package store

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/prometheus/client_golang/prometheus"

	"esmon/core/store/segment"
	"esmon/core/store/wal"
	"esmon/internal/flock"
)

// Label is one name=value pair of a series.
type Label struct {
	Name  string
	Value string
}

// Labels are a series' labels sorted by name. The host label is one of them.
type Labels []Label

// Get returns the value of label name, or "".
func (ls Labels) Get(name string) string {
	for _, l := range ls {
		if l.Name == name {
			return l.Value
		}
	}
	return ""
}

// Map returns the labels as a map.
func (ls Labels) Map() map[string]string {
	m := make(map[string]string, len(ls))
	for _, l := range ls {
		m[l.Name] = l.Value
	}
	return m
}

// Sort orders the labels by name, as every Labels value must be.
func (ls Labels) Sort() { sort.Slice(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name }) }

// SeriesKey is the canonical text of a series: metric{a="x",b="y"} with labels
// in name order. It names a series in the index, in the API and in the pages.
func SeriesKey(metric string, ls Labels) string {
	if len(ls) == 0 {
		return metric
	}
	var b strings.Builder
	b.WriteString(metric)
	b.WriteByte('{')
	for i, l := range ls {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l.Name)
		b.WriteString(`="`)
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(l.Value, `\`, `\\`), `"`, `\"`))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// Sample is one value of one series at one time (Unix milliseconds).
// Ref, when set (from DB.Ref), names the series so that Append need not
// look it up by Metric and Labels; those must still name the same series,
// for the other readers of the sample (alerts, hosts).
type Sample struct {
	Metric string
	Labels Labels
	T      int64
	V      float64
	Ref    SeriesRef
}

// SeriesRef names one series of one open store. A caller that appends to
// the same series again and again (the hub, once per agent connection and
// series) looks it up once with DB.Ref and sets it on every Sample: the
// append then skips building the series key and the map lookup, most of
// the per-sample cost. The zero SeriesRef names no series. It holds no
// pointer, so a holder of many (a connection's series table, the alert
// engine's matches by series) adds nothing for the collector to follow.
type SeriesRef struct {
	s     slot   // the series' slot in its store's head
	store uint32 // DB.seq of that store
}

// Point is one stored sample of a known series.
type Point struct {
	T int64
	V float64
}

// SeriesInfo names one stored series.
type SeriesInfo struct {
	Metric string
	Labels Labels
}

// Result is one series of a query answer.
type Result struct {
	SeriesInfo
	Points []Point
}

// Query asks for the samples of every series of Metric whose labels include
// all of Match, between From and To (Unix ms, inclusive). With Step > 0 the
// points are aggregated by Agg (AggAvg when empty) into buckets of Step
// milliseconds stamped with the bucket start; with Step 0 the raw samples
// come back (or, for AggRate, the rate between consecutive samples).
type Query struct {
	Metric string
	Match  map[string]string
	From   int64
	To     int64
	Step   int64
	Agg    string
}

// Selection is the answer to a Query: the series, and the tier that
// served them (TierRaw, TierMinute or TierHour).
type Selection struct {
	Tier   string
	Series []Result
}

// Series is the time-series contract the rest of the core uses.
type Series interface {
	// Append stores samples; when it returns nil they are on disk.
	Append(ctx context.Context, samples []Sample) error
	// Select answers a range query from the coarsest tier that serves
	// its step.
	Select(ctx context.Context, q Query) (Selection, error)
	// List names the series of metric (all metrics if "") matching match.
	List(ctx context.Context, metric string, match map[string]string) ([]SeriesInfo, error)
}

// KV is a small record store for the core's other parts. Keys are namespaced
// by their first byte; see the prefixes in this package.
type KV interface {
	Get(key []byte) ([]byte, error)
	Put(key, value []byte) error
	Delete(key []byte) error
	// Scan calls fn for every key with prefix, in key order, until fn returns false.
	Scan(prefix []byte, fn func(key, value []byte) bool) error
}

// ErrNotFound is returned by KV.Get for a missing key.
var ErrNotFound = errors.New("not found")

// Key prefixes. Each part of the core owns one.
const (
	prefixSeriesByID = 'i' // i<id> -> metric \x00 labels; see index.go for all series keys
	// prefixOldPosting held postings by host and by metric, never read
	// (they are made in memory); Open drops them.
	prefixOldPosting = 'p'
	prefixChunk      = 'c' // raw chunks
	prefixRollup     = 'g' // 1m and 1h rollups
	prefixState      = 't' // the store's own state (rollup watermarks)
	// prefixOldSample and prefixOldSeriesByKey held one key per sample in
	// the first layout; Open drops them.
	prefixOldSample      = 'd'
	prefixOldSeriesByKey = 's'
	// PrefixHosts, PrefixRules, PrefixAlertState and PrefixAlertHistory are
	// the KV namespaces of the hosts registry and the alert engine.
	PrefixHosts        = 'h'
	PrefixRules        = 'r'
	PrefixAlertState   = 'a'
	PrefixAlertHistory = 'y'
	PrefixMeta         = 'm'
	// PrefixOutbox, PrefixSilences, PrefixMaintenance and
	// PrefixRuleAudit are the KV namespaces of the notification outbox, of
	// people's actions on alerts and of who changed which rule.
	PrefixOutbox      = 'o'
	PrefixSilences    = 'x'
	PrefixMaintenance = 'w'
	PrefixRuleAudit   = 'u'
)

// Retention is how long each tier keeps data; zero keeps it forever.
type Retention struct {
	Raw    time.Duration `yaml:"raw"`
	Minute time.Duration `yaml:"minute"`
	Hour   time.Duration `yaml:"hour"`
}

// DefaultRetention keeps raw samples 14 days, 1-minute rollups 180 days
// and 1-hour rollups 3 years.
var DefaultRetention = Retention{Raw: 14 * 24 * time.Hour, Minute: 180 * 24 * time.Hour, Hour: 3 * 365 * 24 * time.Hour}

// RecommendedMemoryLimit is the soft memory limit (runtime/debug.
// SetMemoryLimit, or GOMEMLIMIT) for a core whose store holds up to about
// 100,000 active series. The store's live heap was about 160 MB there;
// with the head's timestamps shared per host, a series' names kept as one
// string and the open chunk kept in the series it is under 120 MB at 10 s samples
// (BenchmarkHeadMemory: ~0.96 KB a series with every open chunk a full
// hour, when chunks were not cut at half windows; Badger's memtables and
// caches ~20 MB); without a limit the Go heap grows to twice that and more before a
// collection and returns freed pages lazily, and the process peaks at
// ~640 MB. Under this limit it stays under 400 MB (BENCHMARKS.md, "Store").
// Raise it with the fleet: it should stay above twice the live heap, or
// the collector runs all the time.
const RecommendedMemoryLimit = 300 << 20

// Options tune the database. Zero values take the defaults noted.
type Options struct {
	Dir    string
	Logger *slog.Logger
	// InMemory keeps everything in memory, without a write-ahead log
	// (tests only).
	InMemory bool
	// Retention per tier. Default DefaultRetention; a zero field takes
	// its default.
	Retention Retention
	// Registerer, if set, receives the store's metrics.
	Registerer prometheus.Registerer
	// RepairWAL cuts a damaged write-ahead log at the damage instead of
	// refusing to open. Samples after the damage are lost; the default
	// is to stop and say where the damage is.
	RepairWAL bool
	// MaxPendingWAL is how many bytes of log may wait for the disk before
	// appends wait. Default 32 MiB.
	MaxPendingWAL int
	// MaxPendingBytes is how many bytes of finished chunks may wait for
	// Badger before appends wait. Default 64 MiB.
	MaxPendingBytes int64
	// FlushBytes of finished chunks wake the flusher early. Default 4 MiB.
	FlushBytes int64
	// FlushEvery is the flusher's period. Default 5s.
	FlushEvery time.Duration
	// CheckpointBytes of log written, or CheckpointEvery, start a
	// checkpoint. Defaults 256 MiB and 15m.
	CheckpointBytes int64
	CheckpointEvery time.Duration
	// PageOutEvery is how often the store has the kernel reclaim the
	// pages of its Badger tables it has mapped (see pageOutTables).
	// Default 30s; negative never.
	PageOutEvery time.Duration
	// SegmentBytes seals a segment file of raw chunks at this size.
	// Default 256 MiB.
	SegmentBytes int64
	// Now is the clock of rollups and retention. Default time.Now.
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Retention.Raw == 0 {
		o.Retention.Raw = DefaultRetention.Raw
	}
	if o.Retention.Minute == 0 {
		o.Retention.Minute = DefaultRetention.Minute
	}
	if o.Retention.Hour == 0 {
		o.Retention.Hour = DefaultRetention.Hour
	}
	if o.MaxPendingBytes <= 0 {
		o.MaxPendingBytes = 64 << 20
	}
	if o.FlushBytes <= 0 {
		o.FlushBytes = 4 << 20
	}
	if o.FlushEvery <= 0 {
		o.FlushEvery = 5 * time.Second
	}
	if o.CheckpointBytes <= 0 {
		o.CheckpointBytes = 256 << 20
	}
	if o.CheckpointEvery <= 0 {
		o.CheckpointEvery = 15 * time.Minute
	}
	if o.PageOutEvery == 0 {
		o.PageOutEvery = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// DB is the Badger database with the Series and KV views.
type DB struct {
	db     *badger.DB
	log    *slog.Logger
	opts   Options
	wal    *wal.Log // nil in memory
	walDir string
	m      *metrics

	// hmu guards the head: the maps and postings, every memSeries' mutable
	// fields, and the fields up to flushed.
	hmu          sync.Mutex
	byHash       map[uint64]slot       // by keyHash of the series key
	collide      map[string]*memSeries // by key, series whose hash another took
	hashSeed     maphash.Seed
	hashMask     uint64               // ^0; tests clear bits to make hashes collide
	times        map[string]hostTimes // by host: the timestamps its open chunks share
	seq          uint32               // this store's number (storeSeq)
	byID         seriesIDs
	alloc        seriesAlloc // where new series and their names are cut from
	byHost       map[string][]slot
	byMetric     map[string][]slot
	nextID       uint64
	withPending  []*memSeries // series with finished chunks to flush
	unindexed    []*memSeries // series whose index entries are not in Badger
	pendingBytes int64
	minT, maxT   int64 // oldest and newest sample seen since Open
	lowW, highW  int64 // oldest and newest chunk window, on disk or in memory
	// alignedChunks is set when the data directory holds chunks written
	// before windows had a per-host offset: queries then also seek the
	// clock-hour windows.
	alignedChunks bool
	minuteWM      int64 // rollup watermarks, unset until the first rollup
	hourWM        int64
	dirty         map[int64]map[uint64]struct{} // hour -> series with samples behind minuteWM
	// The 1-hour rows the head folds as samples come (see foldHour):
	// from hourFrom on (before it, not every sample of an hour was
	// appended since Open), up to hourTaken, the last hour taken.
	hours               map[int64]*hourRows
	hourFrom, hourTaken int64
	keyBuf              []byte
	seriesRec           []byte // recSeries record of new series not yet in the log
	enc                 sampleEncoder
	closed              bool
	flushed             *sync.Cond // on hmu: a flush finished or the store closed

	flushMu sync.Mutex  // one flush at a time
	rollMu  sync.Mutex  // one rollup at a time
	dayKeys atomic.Bool // the store holds day keys of the 1-hour tier (see tierHourRow)
	ckMu    sync.Mutex  // one checkpoint at a time; guards ckAt and ckTime
	ckAt    uint64      // log position at the last checkpoint
	ckTime  time.Time

	tableDir string   // where pageOut looks for the tables' mappings
	claim    *os.File // the lock on claimFile, held until Close

	// segs holds the raw chunks (segment files in DIR/chunks; a
	// temporary directory for an in-memory store, removed at Close).
	// Directories written before kept them in Badger under prefixChunk:
	// badgerChunks is set while any are left, and readers look there too.
	segs         *segment.Store
	segTemp      string
	badgerChunks bool

	kick      chan struct{}
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
	badger    gate // Badger open for KV records and table sizes until Close
}

var (
	_ Series = (*DB)(nil)
	_ KV     = (*DB)(nil)
)

// claimFile is the store's lock in its directory. Badger locks the
// directory too (its LOCK file), but only inside badger.Open: the store
// changes the directory before that (removeEmptyLogs), so it claims the
// directory first, and a second process started on a directory in use
// (an `esmon serve` beside the console, a second `esmon serve`) stops
// there, having changed nothing.
const claimFile = "store.lock"

// claimDir creates dir and takes claimFile's lock in it.
func claimDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	f, err := flock.Claim(filepath.Join(dir, claimFile))
	if errors.Is(err, flock.ErrLocked) {
		return nil, fmt.Errorf("open store in %s: another process has it open (%w)", dir, flock.ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return f, nil
}

// removeEmptyLogs removes the zero-byte memtable (.mem) and value-log
// (.vlog) files in Badger's directory and returns their names. Badger
// creates such a file and then sizes it and writes its header; a process
// killed in between leaves it empty, and Badger then refuses to open the
// directory ("while opening fid: N err: Create a new file", Badger issue
// #2207; it happened to a core killed under load at 10,000 agents,
// BENCHMARKS.md, "Scale", thirtieth round). An empty file holds no
// entry, so removing it loses nothing.
func removeEmptyLogs(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range ents {
		if n := e.Name(); e.Type().IsRegular() && (strings.HasSuffix(n, ".mem") || strings.HasSuffix(n, ".vlog")) {
			fi, err := e.Info()
			if err != nil || fi.Size() != 0 {
				continue
			}
			if err := os.Remove(filepath.Join(dir, n)); err != nil {
				return removed, err
			}
			removed = append(removed, n)
		}
	}
	return removed, nil
}

// Open opens or creates the database in opts.Dir: it loads the series
// index, replays the write-ahead log into the head, and starts the flusher
// that Close stops.
func Open(opts Options) (*DB, error) {
	opts.defaults()
	log := opts.Logger
	// Memory: the memtable is held twice while one is flushed, and its
	// flush builds a table of its size in memory; 8 MiB is 32 of the
	// store's finished-chunk batches (FlushBytes). The block cache
	// holds decompressed blocks for the queries (a 24 h raw query reads
	// ~24 chunks; dashboards re-read the newest hours). The index cache
	// serves encrypted tables only (Badger reads an unencrypted table's
	// index from its mmap), so it is off. With 100,000 series this and
	// a soft memory limit of RecommendedMemoryLimit keep the core under
	// 400 MB (BENCHMARKS.md). Blocks are compressed with ZSTD's default
	// level (3) rather than its fastest (1): the devops dataset's
	// directory is 1 % smaller (2.103 → 2.082 bytes a sample at 100
	// hosts for a day), mostly from the repeats across chunks (their
	// shared timestamp sections, the keys) that level 1's match finder
	// misses, for 1.5-3 % more CPU over ingest, rollups and compaction;
	// reading is as fast. Larger blocks would save more (128 KiB: 2.055
	// at 10 hosts) but a long range of one series reads one raw chunk
	// from each piece's blocks (keys are by piece, then series), so 14
	// days would decompress four times as much (measured when keys were
	// by hour: 43 MB instead of 11). Tables start at 512 KiB (Badger's
	// default 2 MiB): what Badger holds since the raw chunks left it is
	// mostly the alert history, JSON that ZSTD takes to a seventh, and
	// a table builder holds its table uncompressed, twice over as its
	// allocator grows: at 10,000 agents the builders of one compaction
	// of 4 MiB tables held 292 MB (BENCHMARKS.md, "Scale", twenty-third
	// round). Level 0's tables span every prefix, so each compaction
	// from it rewrites the whole base level.
	bo := badger.DefaultOptions(opts.Dir).
		WithInMemory(opts.InMemory).
		WithSyncWrites(true).
		WithLogger(badgerLogger{log.With("component", "badger")}).
		WithMemTableSize(8 << 20).
		WithNumMemtables(2).
		WithBlockCacheSize(16 << 20).
		WithIndexCacheSize(0).
		WithValueLogFileSize(64 << 20).
		WithNumCompactors(2).
		WithCompression(options.ZSTD).
		WithZSTDCompressionLevel(3).
		WithBlockSize(32 << 10).
		WithBaseTableSize(512 << 10).
		WithValueThreshold(1 << 20)
	var (
		claim     *os.File
		emptyLogs []string
		err       error
	)
	if opts.InMemory {
		bo.Dir, bo.ValueDir = "", ""
	} else {
		if claim, err = claimDir(opts.Dir); err != nil {
			return nil, err
		}
		if emptyLogs, err = removeEmptyLogs(opts.Dir); err != nil {
			flock.Release(claim)
			return nil, fmt.Errorf("open badger in %s: %w", opts.Dir, err)
		}
	}
	for _, name := range emptyLogs {
		log.Warn("removed an empty Badger log file left by a killed process", "file", name)
	}
	bdb, err := badger.Open(bo)
	if err != nil {
		if claim != nil {
			flock.Release(claim)
		}
		return nil, fmt.Errorf("open badger in %s: %w", opts.Dir, err)
	}
	d := &DB{db: bdb, log: log, opts: opts, m: newMetrics(), claim: claim,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), ckTime: time.Now()}
	d.m.emptyLogs.Add(float64(len(emptyLogs)))
	d.initHead()
	d.flushed = sync.NewCond(&d.hmu)
	segDir := filepath.Join(opts.Dir, "chunks")
	if opts.InMemory {
		if segDir, err = os.MkdirTemp("", "esmon-store-"); err != nil {
			bdb.Close()
			return nil, fmt.Errorf("open store: %w", err)
		}
		d.segTemp = segDir
	}
	if d.segs, err = segment.Open(segDir, segment.Options{MaxBytes: opts.SegmentBytes, Logger: log}); err == nil {
		d.m.segmentCuts.Add(float64(d.segs.Cuts()))
		err = d.open()
	}
	if err == nil {
		err = d.foldFrom()
	}
	if err != nil {
		if d.wal != nil {
			d.wal.Close()
		}
		if d.segs != nil {
			d.segs.Close()
		}
		if d.segTemp != "" {
			os.RemoveAll(d.segTemp)
		}
		bdb.Close()
		if claim != nil {
			flock.Release(claim)
		}
		return nil, err
	}
	go d.run()
	return d, nil
}

// initHead makes the empty head: the series maps and the head's state.
func (d *DB) initHead() {
	d.byHash, d.collide, d.times = map[uint64]slot{}, map[string]*memSeries{}, map[string]hostTimes{}
	d.hashSeed, d.hashMask, d.seq = maphash.MakeSeed(), ^uint64(0), storeSeq.Add(1)
	d.byID, d.byHost, d.byMetric = seriesIDs{a: &d.alloc}, map[string][]slot{}, map[string][]slot{}
	d.seriesRec = []byte{recSeries}
	d.minT, d.maxT, d.lowW, d.highW = math.MaxInt64, math.MinInt64, math.MaxInt64, math.MinInt64
	d.minuteWM, d.hourWM, d.dirty = unset, unset, map[int64]map[uint64]struct{}{}
	// No hour is folded while the stored samples are loaded; Open sets
	// hourFrom once they are (foldFrom).
	d.hours, d.hourFrom, d.hourTaken = map[int64]*hourRows{}, math.MaxInt64, unset
}

// foldFrom sets the first hour the head folds the 1-hour rows of: the
// next hour after the newest sample stored and the clock, or every hour
// when the store holds no series (no sample can be missing from the head
// then; nor is any rollup written under another retention: recorded, the
// retention job need not walk the rollups once, see walkTier).
func (d *DB) foldFrom() error {
	d.hmu.Lock()
	empty := d.alloc.n == 0
	d.hourFrom = unset
	if !empty {
		d.hourFrom = floorTo(max(d.maxT, d.opts.Now().UnixMilli()), hourMS) + hourMS
	}
	d.hmu.Unlock()
	if empty {
		for _, code := range rollupCodes {
			if _, err := d.walkTier(code, d.keep(code), d.opts.Now().UnixMilli()); err != nil {
				return fmt.Errorf("open store: %w", err)
			}
		}
	}
	return nil
}

func (d *DB) open() error {
	if err := d.dropOldLayout(); err != nil {
		return err
	}
	if err := d.loadIndex(); err != nil {
		return err
	}
	d.loadWindowRange()
	d.badgerChunks = d.lowW <= d.highW
	if err := d.loadLayout(); err != nil {
		return err
	}
	if err := d.loadWatermarks(); err != nil {
		return err
	}
	if d.opts.Registerer != nil {
		if err := d.register(d.opts.Registerer); err != nil {
			return fmt.Errorf("register store metrics: %w", err)
		}
	}
	if d.opts.InMemory {
		return nil
	}
	dir, err := filepath.Abs(d.opts.Dir)
	if err == nil {
		dir, err = filepath.EvalSymlinks(dir) // as /proc/self/maps names it
	}
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	d.tableDir = dir
	d.walDir = filepath.Join(d.opts.Dir, "wal")
	if err := d.replay(); err != nil {
		return err
	}
	d.wal, err = wal.Open(wal.Options{Dir: d.walDir, MaxPending: d.opts.MaxPendingWAL,
		ObserveSync: func(t time.Duration) { d.m.walSync.Observe(t.Seconds()) }})
	return err
}

// layoutKey marks a data directory whose chunks all have staggered
// windows (see windowOffset).
var layoutKey = []byte{prefixState, 'l'}

const layoutStaggered = "staggered-windows"

// loadLayout finds whether chunks of clock-hour windows may exist: when
// chunks exist and the layout key does not. A directory without chunks
// gets the key.
func (d *DB) loadLayout() error {
	v, err := d.Get(layoutKey)
	switch {
	case err == nil && string(v) == layoutStaggered:
		return nil
	case err != nil && !errors.Is(err, ErrNotFound):
		return fmt.Errorf("load layout: %w", err)
	case d.lowW <= d.highW:
		d.alignedChunks = true
		return nil
	}
	if err := d.Put(layoutKey, []byte(layoutStaggered)); err != nil {
		return fmt.Errorf("save layout: %w", err)
	}
	return nil
}

// dropOldLayout removes the one-key-per-sample data of the first layout,
// and the postings that earlier directories kept in Badger.
func (d *DB) dropOldLayout() error {
	if d.hasPrefix(prefixOldSample) {
		d.log.Warn("dropping samples of the old one-key-per-sample layout")
		if err := d.db.DropPrefix([]byte{prefixOldSample}, []byte{prefixOldSeriesByKey}); err != nil {
			return fmt.Errorf("drop old layout: %w", err)
		}
	}
	if d.hasPrefix(prefixOldPosting) {
		d.log.Info("dropping the postings kept in Badger by earlier versions (made in memory at start)")
		if err := d.db.DropPrefix([]byte{prefixOldPosting}); err != nil {
			return fmt.Errorf("drop old postings: %w", err)
		}
	}
	return nil
}

// hasPrefix reports whether any key starts with prefix.
func (d *DB) hasPrefix(prefix byte) bool {
	found := false
	d.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefix}})
		defer it.Close()
		it.Rewind()
		found = it.Valid()
		return nil
	})
	return found
}

// Close stops appends, writes every chunk to Badger and a checkpoint (so
// the next start replays little), and closes the log and Badger.
func (d *DB) Close() error {
	d.closeOnce.Do(func() {
		d.hmu.Lock()
		d.closed = true
		d.flushed.Broadcast()
		d.hmu.Unlock()
		close(d.stop)
		<-d.done
		var errs []error
		if d.wal != nil {
			errs = append(errs, d.checkpoint(true), d.wal.Close())
		} else {
			errs = append(errs, d.flush())
		}
		d.badger.shut()
		errs = append(errs, d.segs.Close(), d.db.Close())
		if d.segTemp != "" {
			errs = append(errs, os.RemoveAll(d.segTemp))
		}
		if d.claim != nil {
			errs = append(errs, flock.Release(d.claim))
		}
		d.closeErr = errors.Join(errs...)
	})
	return d.closeErr
}

// RunValueLogGC reclaims space in Badger's value log; the core schedules it.
func (d *DB) RunValueLogGC() {
	d.kv(func() error {
		for d.db.RunValueLogGC(0.5) == nil {
		}
		return nil
	})
}

// Size returns the bytes of the LSM tree and the value log (zero once
// closed).
func (d *DB) Size() (lsm, vlog int64) {
	d.kv(func() error {
		lsm, vlog = d.db.Size()
		return nil
	})
	return lsm, vlog
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// signBit makes signed timestamps sort correctly as big-endian bytes.
const signBit = 1 << 63

// Get returns a KV record.
func (d *DB) Get(key []byte) ([]byte, error) {
	var out []byte
	err := d.view(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		out, err = item.ValueCopy(nil)
		return err
	})
	return out, err
}

// Put writes a KV record durably.
func (d *DB) Put(key, value []byte) error {
	return d.update(func(txn *badger.Txn) error { return txn.Set(key, value) })
}

// Delete removes a KV record.
func (d *DB) Delete(key []byte) error {
	return d.update(func(txn *badger.Txn) error { return txn.Delete(key) })
}

// PutBatch writes KV records in one Badger write batch: one commit and one
// sync for a batch that fits one transaction (a larger one is split, each
// part synced). A nil value deletes its key. The alert engine's writer
// commits a round of transitions this way.
func (d *DB) PutBatch(keys, values [][]byte) error {
	if len(keys) != len(values) {
		return fmt.Errorf("put batch: %d keys, %d values", len(keys), len(values))
	}
	return d.kv(func() error {
		wb := d.db.NewWriteBatch()
		defer wb.Cancel()
		for i, k := range keys {
			var err error
			if values[i] == nil {
				err = wb.Delete(k)
			} else {
				err = wb.Set(k, values[i])
			}
			if err != nil {
				return err
			}
		}
		return wb.Flush()
	})
}

// Scan walks KV records with a prefix in key order.
func (d *DB) Scan(prefix []byte, fn func(key, value []byte) bool) error {
	return d.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if !fn(item.KeyCopy(nil), v) {
				return nil
			}
		}
		return nil
	})
}

// Stats reports the database's own figures for the core's metrics.
type Stats struct {
	Series   int
	LSMBytes int64
	VlogByte int64
}

// Stats returns current figures.
func (d *DB) Stats() Stats {
	d.hmu.Lock()
	n := d.byID.len()
	d.hmu.Unlock()
	lsm, vlog := d.Size()
	return Stats{Series: n, LSMBytes: lsm, VlogByte: vlog}
}

// badgerLogger sends Badger's log lines to slog; its info chatter is debug.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any)   { b.l.Error(strings.TrimSpace(fmt.Sprintf(f, a...))) }
func (b badgerLogger) Warningf(f string, a ...any) { b.l.Warn(strings.TrimSpace(fmt.Sprintf(f, a...))) }
func (b badgerLogger) Infof(f string, a ...any)    { b.l.Debug(strings.TrimSpace(fmt.Sprintf(f, a...))) }
func (b badgerLogger) Debugf(string, ...any)       {} // one line per write: too much even for debug

// Compact flattens Badger's LSM tree into one level and collects its value
// log, so that the data directory holds no stale versions: what the
// benchmarks measure as bytes on disk.
func (d *DB) Compact() error {
	if err := d.db.Flatten(2); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	d.RunValueLogGC()
	return nil
}
