package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"sync/atomic"
	"unsafe"
)

// A series' name is its metric and labels in one string: the metric, then
// each label's name and value, each ended by a zero byte (the wire refuses
// zero bytes in names and values). It is the series' key in the head, the
// value of its index entry in Badger, and what a memSeries keeps of its
// identity: one string, one pointer for the collector to follow per series,
// where a metric and a slice of labels were a slice and 2n+1 strings. The
// accessors below read it in place; the strings they return share its
// bytes.

// appendSeriesKey appends the name of metric{ls}.
func appendSeriesKey(b []byte, metric string, ls Labels) []byte {
	b = append(append(b, metric...), 0)
	for _, l := range ls {
		b = append(append(b, l.Name...), 0)
		b = append(append(b, l.Value...), 0)
	}
	return b
}

// encodeSeries returns the name of metric{ls} in a buffer of its own.
func encodeSeries(metric string, ls Labels) []byte {
	n := len(metric) + 1
	for _, l := range ls {
		n += len(l.Name) + len(l.Value) + 2
	}
	return appendSeriesKey(make([]byte, 0, n), metric, ls)
}

// checkSeriesKey reports whether b is a well-formed series name: a
// metric and whole name/value pairs, each ended by a zero byte.
func checkSeriesKey(b []byte) error {
	parts := bytes.Count(b, []byte{0})
	if parts == 0 || parts%2 == 0 || b[len(b)-1] != 0 {
		return fmt.Errorf("corrupt series entry %q", b)
	}
	return nil
}

// nextPart splits the first zero-ended part off a series name.
func nextPart(k string) (part, rest string) {
	i := strings.IndexByte(k, 0)
	if i < 0 {
		return k, ""
	}
	return k[:i], k[i+1:]
}

// keyMetric is the metric of a series name.
func keyMetric(k string) string {
	m, _ := nextPart(k)
	return m
}

// keyLabel is the value of label name in a series name, "" without one.
func keyLabel(k, name string) string {
	_, rest := nextPart(k)
	for rest != "" {
		var n, v string
		n, rest = nextPart(rest)
		v, rest = nextPart(rest)
		if n == name {
			return v
		}
	}
	return ""
}

// keyLabels are the labels of a series name.
func keyLabels(k string) Labels {
	_, rest := nextPart(k)
	return appendKeyLabels(make(Labels, 0, strings.Count(rest, "\x00")/2), k)
}

// appendKeyLabels appends the labels of a series name to ls: a reader of
// many series (Latest) takes them all from one array.
func appendKeyLabels(ls Labels, k string) Labels {
	_, ls = SeriesNameParts(ls, k)
	return ls
}

// keyMatches reports whether a series name has every label of match.
func keyMatches(k string, match map[string]string) bool {
	for n, v := range match {
		if keyLabel(k, n) != v {
			return false
		}
	}
	return true
}

// appendSeriesEntry appends a series record's entry for the series id of
// name k.
func appendSeriesEntry(b []byte, id uint64, k string) []byte {
	b = binary.AppendUvarint(b, id)
	m, rest := nextPart(k)
	b = appendString(b, m)
	b = binary.AppendUvarint(b, uint64(strings.Count(rest, "\x00")/2))
	for rest != "" {
		var p string
		p, rest = nextPart(rest)
		b = appendString(b, p)
	}
	return b
}

// AppendSeriesName appends the name of metric{ls} (labels sorted by name,
// as the store files them): the metric, then each label's name and value,
// each ended by a zero byte. A name is one string where a metric and its
// labels are a slice and 2n+1 strings: a holder of many series (the hub's
// limiter, a connection's series table) keeps one pointer per series for
// the collector to follow, and reads metric and labels back with
// SeriesNameMetric and AppendSeriesNameLabels.
func AppendSeriesName(b []byte, metric string, ls Labels) []byte {
	return appendSeriesKey(b, metric, ls)
}

// SeriesNameParts returns the metric of a series name and appends its
// labels to ls; their strings share the name's bytes. It reads the name
// in one pass, a search for the zero byte that ends each part: the hub
// reads every sample's metric and labels from its series' name.
func SeriesNameParts(ls Labels, name string) (string, Labels) {
	i := strings.IndexByte(name, 0)
	if i < 0 {
		return name, ls
	}
	metric, rest := name[:i], name[i+1:]
	for rest != "" {
		i := strings.IndexByte(rest, 0)
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i+1:], 0)
		if j < 0 {
			break
		}
		ls = append(ls, Label{Name: rest[:i], Value: rest[i+1 : i+1+j]})
		rest = rest[i+2+j:]
	}
	return metric, ls
}

// NameParts is where the parts of one series name end (the offsets of its
// zero bytes), for a name of at most 255 bytes with at most three labels;
// the zero NameParts knows none. A holder that reads a series' metric and
// labels at every sample (the hub, for every sample an agent sends) keeps
// them beside the name and slices the parts out, where SeriesNameParts
// searches for them each time.
type NameParts struct {
	ends [7]uint8
	n    uint8
}

// PartsOf locates the parts of a series name.
func PartsOf(name string) NameParts {
	var p NameParts
	if len(name) > 255 {
		return NameParts{}
	}
	for i := 0; i < len(name); i++ {
		if name[i] != 0 {
			continue
		}
		if int(p.n) == len(p.ends) {
			return NameParts{}
		}
		p.ends[p.n] = uint8(i)
		p.n++
	}
	if p.n%2 == 0 || int(p.ends[p.n-1]) != len(name)-1 {
		return NameParts{} // not a whole name: SeriesNameParts reads what it can
	}
	return p
}

// Split returns the metric of name, whose parts p located, and appends
// its labels to ls, as SeriesNameParts does.
func (p NameParts) Split(ls Labels, name string) (string, Labels) {
	if p.n == 0 {
		return SeriesNameParts(ls, name)
	}
	e := p.ends[:p.n]
	from := int(e[0]) + 1
	for i := 1; i+1 < len(e); i += 2 {
		ls = append(ls, Label{Name: name[from:e[i]], Value: name[e[i]+1 : e[i+1]]})
		from = int(e[i+1]) + 1
	}
	return name[:e[0]], ls
}

// nameBlock is the size of a NameTable's block; a name over an eighth of
// it gets a block of its own.
const nameBlock = 64 << 10

// NameRef is a name kept in a NameTable: where it is, in a number. A table
// of NameRefs holds no pointers, so the collector never scans it, where a
// string a series was a pointer for every collection to follow (1.2
// million in the hub at 10,000 agents; BenchmarkMarkPointers: 600,000
// strings cost a collection ~5 ms more than as many numbers). The zero
// NameRef is no name.
type NameRef uint64

// NameTable keeps strings (series names) that live as long as their
// holder, in blocks: one object for the collector to mark for the names
// of a thousand series or so, where a string each was an object each.
// Names are never forgotten, so a block is never freed in part. Each is
// numbered by a NameRef. Add and Keep are for one goroutine at a time
// (their caller's lock); String may run beside them, in any goroutine
// that got the NameRef from an Add that happened before. The zero
// NameTable is ready to use.
type NameTable struct {
	// blocks are every block. A block is appended in the spare room of
	// the slice or to a copy, so the blocks a reader loaded never change.
	blocks atomic.Pointer[[][]byte]
	cur    []byte // the block being filled, nil before the first
	curI   int    // its index in blocks
	fill   int    // bytes used in cur
}

// A NameRef is refLong for a name with a block of its own (a name over
// nameBlock/8), the block's index plus one in bits 32 to 62, then the
// name's offset in the block and its length, 16 bits each.
const refLong NameRef = 1 << 63

// Add keeps a copy of k and returns its NameRef.
func (t *NameTable) Add(k []byte) NameRef {
	if len(k) > nameBlock/8 {
		return refLong | NameRef(t.push(append([]byte(nil), k...))+1)<<32
	}
	if t.cur == nil || nameBlock-t.fill < len(k) {
		t.cur, t.fill = make([]byte, nameBlock), 0
		t.curI = t.push(t.cur)
	}
	off := t.fill
	t.fill += copy(t.cur[off:], k)
	return NameRef(t.curI+1)<<32 | NameRef(off)<<16 | NameRef(len(k))
}

// Keep keeps a copy of k and returns it, for a holder that keeps the
// string itself.
func (t *NameTable) Keep(k []byte) string { return t.String(t.Add(k)) }

// push adds block b and returns its index.
func (t *NameTable) push(b []byte) int {
	var bs [][]byte
	if p := t.blocks.Load(); p != nil {
		bs = *p
	}
	bs = append(bs, b)
	t.blocks.Store(&bs)
	return len(bs) - 1
}

// String is the name r numbers; its bytes are never written again. r
// must come from t.
func (t *NameTable) String(r NameRef) string {
	b := (*t.blocks.Load())[int(r>>32&(1<<31-1))-1]
	if r&refLong != 0 {
		return unsafe.String(unsafe.SliceData(b), len(b))
	}
	off, n := int(r>>16&0xffff), int(r&0xffff)
	if n == 0 {
		return ""
	}
	return unsafe.String(&b[off], n)
}
