package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Record types of the write-ahead log and of head checkpoints.
const (
	recSeries  byte = 1 // id, metric, labels
	recSamples byte = 2 // groups of (time, n, n × (id, value))
	recLatest  byte = 3 // checkpoint: id, time, value of the newest sample
	recChunk   byte = 4 // checkpoint: id, pending flag, window, chunk bytes
)

var errShortRecord = errors.New("record cut short")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// recReader decodes one record with bounds checks on every field.
type recReader struct {
	b   []byte
	err error
}

func (r *recReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShortRecord
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errShortRecord
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recReader) float() float64 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 8 {
		r.err = errShortRecord
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

func (r *recReader) byte() byte {
	if r.err != nil || len(r.b) < 1 {
		r.err = errShortRecord
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *recReader) string() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.err = errShortRecord
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// seriesRecord is one series of a recSeries record.
type seriesRecord struct {
	id     uint64
	metric string
	labels Labels
}

// decodeSeriesRecord reads the series of a recSeries record.
func decodeSeriesRecord(b []byte) ([]seriesRecord, error) {
	r := recReader{b: b[1:]}
	var out []seriesRecord
	for len(r.b) > 0 && r.err == nil {
		var s seriesRecord
		s.id = r.uvarint()
		s.metric = r.string()
		n := r.uvarint()
		if r.err == nil && n > uint64(len(r.b)) {
			r.err = errShortRecord
		}
		for i := uint64(0); i < n && r.err == nil; i++ {
			s.labels = append(s.labels, Label{Name: r.string(), Value: r.string()})
		}
		if r.err == nil && s.metric == "" {
			return nil, errors.New("series record: empty metric")
		}
		out = append(out, s)
	}
	if r.err != nil {
		return nil, fmt.Errorf("series record: %w", r.err)
	}
	return out, nil
}

// decodeSamples calls fn for every sample of a recSamples record.
func decodeSamples(b []byte, fn func(id uint64, t int64, v float64)) error {
	r := recReader{b: b[1:]}
	for len(r.b) > 0 && r.err == nil {
		t := r.varint()
		n := r.uvarint()
		if r.err == nil && n > uint64(len(r.b))/9 {
			r.err = errShortRecord
		}
		for i := uint64(0); i < n && r.err == nil; i++ {
			id := r.uvarint()
			v := r.float()
			if r.err == nil {
				fn(id, t, v)
			}
		}
	}
	if r.err != nil {
		return fmt.Errorf("samples record: %w", r.err)
	}
	return nil
}

// sampleEncoder builds a recSamples record, grouping consecutive samples
// that share a timestamp (all samples of one host's snapshot do).
type sampleEncoder struct {
	b      []byte
	t      int64
	nAt    int // offset of the current group's count
	n      uint64
	groups int
}

func (e *sampleEncoder) reset() {
	e.b = append(e.b[:0], recSamples)
	e.n, e.groups = 0, 0
}

func (e *sampleEncoder) add(id uint64, t int64, v float64) {
	if e.groups == 0 || t != e.t {
		e.closeGroup()
		e.b = binary.AppendVarint(e.b, t)
		e.nAt = len(e.b)
		e.b = append(e.b, 0, 0, 0, 0, 0) // room for a uvarint count, fixed up later
		e.t, e.n = t, 0
		e.groups++
	}
	e.b = binary.AppendUvarint(e.b, id)
	e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(v))
	e.n++
}

// closeGroup writes the count of the open group as a padded uvarint (five
// bytes: continuation bits on the first four), which decodes as usual.
func (e *sampleEncoder) closeGroup() {
	if e.groups == 0 {
		return
	}
	n := e.n
	for i := 0; i < 4; i++ {
		e.b[e.nAt+i] = byte(n&0x7f) | 0x80
		n >>= 7
	}
	e.b[e.nAt+4] = byte(n)
}

// record finishes the record; it is nil when no sample was added.
func (e *sampleEncoder) record() []byte {
	if e.groups == 0 {
		return nil
	}
	e.closeGroup()
	return e.b
}

func appendLatestRecord(b []byte, id uint64, t int64, v float64) []byte {
	b = append(b, recLatest)
	b = binary.AppendUvarint(b, id)
	b = binary.AppendVarint(b, t)
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
}

func appendChunkRecord(b []byte, id uint64, pending bool, window int64, chunk []byte) []byte {
	return append(appendChunkHeader(b, id, pending, window), chunk...)
}

// appendChunkHeader is a chunk record without its chunk, which follows.
func appendChunkHeader(b []byte, id uint64, pending bool, window int64) []byte {
	b = append(b, recChunk)
	b = binary.AppendUvarint(b, id)
	if pending {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendVarint(b, window)
	return b
}
