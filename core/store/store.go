// Package store keeps everything the core persists in one Badger database:
// time series (behind the Series interface, so the storage issue can replace
// the layout without touching callers) and small records for the other parts
// (hosts, rules, alert state and history) through the KV interface.
//
// The series layout here is deliberately simple: a series index (metric and
// labels to a numeric id) and one key per sample. Writes are synced to disk
// before Append returns, so a batch acknowledged after Append is durable.
package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"

	badger "github.com/dgraph-io/badger/v4"
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
type Sample struct {
	Metric string
	Labels Labels
	T      int64
	V      float64
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
// points are averaged into buckets of Step milliseconds.
type Query struct {
	Metric string
	Match  map[string]string
	From   int64
	To     int64
	Step   int64
}

// Series is the time-series contract the rest of the core uses.
type Series interface {
	// Append stores samples; when it returns nil they are on disk.
	Append(ctx context.Context, samples []Sample) error
	// Select answers a range query.
	Select(ctx context.Context, q Query) ([]Result, error)
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
	prefixSeriesByKey = 's' // s<series key> -> id
	prefixSeriesByID  = 'i' // i<id>         -> metric \x00 labels
	prefixSample      = 'd' // d<id><ts>     -> float64
	// PrefixHosts, PrefixRules, PrefixAlertState and PrefixAlertHistory are
	// the KV namespaces of the hosts registry and the alert engine.
	PrefixHosts        = 'h'
	PrefixRules        = 'r'
	PrefixAlertState   = 'a'
	PrefixAlertHistory = 'y'
	PrefixMeta         = 'm'
)

// Options tune the database.
type Options struct {
	Dir    string
	Logger *slog.Logger
	// InMemory keeps everything in memory (tests only).
	InMemory bool
}

// DB is the Badger database with the Series and KV views.
type DB struct {
	db  *badger.DB
	log *slog.Logger

	mu     sync.Mutex // guards ids and nextID
	ids    map[string]uint64
	nextID uint64
}

var (
	_ Series = (*DB)(nil)
	_ KV     = (*DB)(nil)
)

// Open opens or creates the database in opts.Dir.
func Open(opts Options) (*DB, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	bo := badger.DefaultOptions(opts.Dir).
		WithInMemory(opts.InMemory).
		WithSyncWrites(true).
		WithLogger(badgerLogger{log.With("component", "badger")}).
		WithMemTableSize(16 << 20).
		WithNumMemtables(2).
		WithBlockCacheSize(32 << 20).
		WithIndexCacheSize(16 << 20).
		WithValueLogFileSize(64 << 20).
		WithNumCompactors(2).
		WithValueThreshold(1 << 10)
	if opts.InMemory {
		bo.Dir, bo.ValueDir = "", ""
	}
	bdb, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("open badger in %s: %w", opts.Dir, err)
	}
	d := &DB{db: bdb, log: log, ids: make(map[string]uint64)}
	if err := d.loadIndex(); err != nil {
		bdb.Close()
		return nil, err
	}
	return d, nil
}

// Close flushes and closes the database.
func (d *DB) Close() error { return d.db.Close() }

// RunValueLogGC reclaims space in Badger's value log; the core schedules it.
func (d *DB) RunValueLogGC() {
	for d.db.RunValueLogGC(0.5) == nil {
	}
}

// Size returns the bytes of the LSM tree and the value log.
func (d *DB) Size() (lsm, vlog int64) { return d.db.Size() }

func (d *DB) loadIndex() error {
	return d.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixSeriesByKey}, PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			err := item.Value(func(v []byte) error {
				if len(v) != 8 {
					return fmt.Errorf("series index entry %q: bad id", item.Key())
				}
				id := binary.BigEndian.Uint64(v)
				d.ids[string(item.Key()[1:])] = id
				if id >= d.nextID {
					d.nextID = id + 1
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("load series index: %w", err)
			}
		}
		return nil
	})
}

// Append stores samples in one synced transaction per batch, adding new
// series to the index in the same transaction.
func (d *DB) Append(ctx context.Context, samples []Sample) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock() // one writer keeps id assignment and the index consistent
	wb := d.db.NewWriteBatch()
	defer wb.Cancel()
	var added []string
	for i := range samples {
		s := &samples[i]
		if math.IsNaN(s.V) || math.IsInf(s.V, 0) {
			continue
		}
		key := SeriesKey(s.Metric, s.Labels)
		id, ok := d.ids[key]
		if !ok {
			id = d.nextID
			d.nextID++
			d.ids[key] = id
			added = append(added, key)
			var idb [8]byte
			binary.BigEndian.PutUint64(idb[:], id)
			if err := wb.Set(append([]byte{prefixSeriesByKey}, key...), idb[:]); err != nil {
				return d.undo(added, err)
			}
			if err := wb.Set(seriesIDKey(id), encodeSeries(s.Metric, s.Labels)); err != nil {
				return d.undo(added, err)
			}
		}
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], math.Float64bits(s.V))
		if err := wb.Set(sampleKey(id, s.T), v[:]); err != nil {
			return d.undo(added, err)
		}
	}
	if err := wb.Flush(); err != nil {
		return d.undo(added, err)
	}
	return nil
}

// undo forgets series ids handed out in a write that failed.
func (d *DB) undo(added []string, err error) error {
	for _, k := range added {
		delete(d.ids, k)
	}
	return fmt.Errorf("append samples: %w", err)
}

// List names stored series.
func (d *DB) List(ctx context.Context, metric string, match map[string]string) ([]SeriesInfo, error) {
	var out []SeriesInfo
	err := d.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixSeriesByID}, PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			var si SeriesInfo
			if err := it.Item().Value(func(v []byte) error {
				var err error
				si.Metric, si.Labels, err = decodeSeries(v)
				return err
			}); err != nil {
				return err
			}
			if (metric == "" || si.Metric == metric) && matches(si.Labels, match) {
				out = append(out, si)
			}
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool {
		return SeriesKey(out[i].Metric, out[i].Labels) < SeriesKey(out[j].Metric, out[j].Labels)
	})
	return out, err
}

// Select answers a range query.
func (d *DB) Select(ctx context.Context, q Query) ([]Result, error) {
	if q.Metric == "" {
		return nil, errors.New("query: metric is required")
	}
	if q.To < q.From {
		return nil, errors.New("query: to is before from")
	}
	infos, err := d.List(ctx, q.Metric, q.Match)
	if err != nil {
		return nil, err
	}
	out := make([]Result, 0, len(infos))
	err = d.db.View(func(txn *badger.Txn) error {
		for _, si := range infos {
			d.mu.Lock()
			id := d.ids[SeriesKey(si.Metric, si.Labels)]
			d.mu.Unlock()
			pts, err := scanPoints(ctx, txn, id, q.From, q.To)
			if err != nil {
				return err
			}
			if q.Step > 0 {
				pts = downsample(pts, q.Step)
			}
			out = append(out, Result{SeriesInfo: si, Points: pts})
		}
		return nil
	})
	return out, err
}

func scanPoints(ctx context.Context, txn *badger.Txn, id uint64, from, to int64) ([]Point, error) {
	prefix := sampleKey(id, 0)[:9]
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 256})
	defer it.Close()
	var pts []Point
	for it.Seek(sampleKey(id, from)); it.Valid(); it.Next() {
		k := it.Item().Key()
		t := int64(binary.BigEndian.Uint64(k[9:]) ^ signBit)
		if t > to {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var v float64
		if err := it.Item().Value(func(b []byte) error {
			if len(b) != 8 {
				return fmt.Errorf("sample of series %d at %d: bad value", id, t)
			}
			v = math.Float64frombits(binary.BigEndian.Uint64(b))
			return nil
		}); err != nil {
			return nil, err
		}
		pts = append(pts, Point{T: t, V: v})
	}
	return pts, nil
}

// downsample averages points into step-wide buckets stamped with the bucket
// start.
func downsample(pts []Point, step int64) []Point {
	var out []Point
	for i := 0; i < len(pts); {
		start := pts[i].T - mod(pts[i].T, step)
		sum, n := 0.0, 0
		for ; i < len(pts) && pts[i].T < start+step; i++ {
			sum += pts[i].V
			n++
		}
		out = append(out, Point{T: start, V: sum / float64(n)})
	}
	return out
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

func matches(ls Labels, match map[string]string) bool {
	for k, v := range match {
		if ls.Get(k) != v {
			return false
		}
	}
	return true
}

// signBit makes signed timestamps sort correctly as big-endian bytes.
const signBit = 1 << 63

func sampleKey(id uint64, t int64) []byte {
	k := make([]byte, 17)
	k[0] = prefixSample
	binary.BigEndian.PutUint64(k[1:], id)
	binary.BigEndian.PutUint64(k[9:], uint64(t)^signBit)
	return k
}

func seriesIDKey(id uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixSeriesByID
	binary.BigEndian.PutUint64(k[1:], id)
	return k
}

// encodeSeries writes metric, then name and value of each label, each ended
// by a zero byte (names and values never contain one: the wire validates
// names, and values with a zero byte are refused there too).
func encodeSeries(metric string, ls Labels) []byte {
	n := len(metric) + 1
	for _, l := range ls {
		n += len(l.Name) + len(l.Value) + 2
	}
	b := make([]byte, 0, n)
	b = append(append(b, metric...), 0)
	for _, l := range ls {
		b = append(append(b, l.Name...), 0)
		b = append(append(b, l.Value...), 0)
	}
	return b
}

func decodeSeries(b []byte) (string, Labels, error) {
	parts := strings.Split(string(b), "\x00")
	if len(parts) < 2 || len(parts)%2 != 0 || parts[len(parts)-1] != "" {
		return "", nil, fmt.Errorf("corrupt series entry %q", b)
	}
	parts = parts[:len(parts)-1]
	var ls Labels
	for i := 1; i+1 < len(parts); i += 2 {
		ls = append(ls, Label{Name: parts[i], Value: parts[i+1]})
	}
	return parts[0], ls, nil
}

// Get returns a KV record.
func (d *DB) Get(key []byte) ([]byte, error) {
	var out []byte
	err := d.db.View(func(txn *badger.Txn) error {
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
	return d.db.Update(func(txn *badger.Txn) error { return txn.Set(key, value) })
}

// Delete removes a KV record.
func (d *DB) Delete(key []byte) error {
	return d.db.Update(func(txn *badger.Txn) error { return txn.Delete(key) })
}

// Scan walks KV records with a prefix in key order.
func (d *DB) Scan(prefix []byte, fn func(key, value []byte) bool) error {
	return d.db.View(func(txn *badger.Txn) error {
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
	d.mu.Lock()
	n := len(d.ids)
	d.mu.Unlock()
	lsm, vlog := d.db.Size()
	return Stats{Series: n, LSMBytes: lsm, VlogByte: vlog}
}

// badgerLogger sends Badger's log lines to slog; its info chatter is debug.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any)   { b.l.Error(strings.TrimSpace(fmt.Sprintf(f, a...))) }
func (b badgerLogger) Warningf(f string, a ...any) { b.l.Warn(strings.TrimSpace(fmt.Sprintf(f, a...))) }
func (b badgerLogger) Infof(f string, a ...any)    { b.l.Debug(strings.TrimSpace(fmt.Sprintf(f, a...))) }
func (b badgerLogger) Debugf(string, ...any)       {} // one line per write: too much even for debug
