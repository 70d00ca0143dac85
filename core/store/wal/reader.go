package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
)

// CorruptError is damage inside the log: a bad record that is not a torn
// write at the very end. Replay reports it rather than skip records.
type CorruptError struct {
	Segment int
	Offset  int64
	Reason  string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("wal segment %08d corrupt at offset %d: %s", e.Segment, e.Offset, e.Reason)
}

// ReplayStats say what Replay found.
type ReplayStats struct {
	Segments int
	Records  int
	// TornTails counts torn records cut from the end of the log (at most
	// one per replay); TornBytes is what was cut.
	TornTails int
	TornBytes int64
	// Repaired is set when Replay cut the log at a CorruptError because
	// it was asked to repair.
	Repaired *CorruptError
}

// Replay reads every record of the segments in dir from segment first on,
// in order, and passes it
// to fn (the slice is only valid during the call). A torn record at the
// end of the last segment is cut off the file and counted. Any other bad
// record is a *CorruptError; with repair set, the log is instead cut at
// the damage (later records and segments are removed) and the error is
// returned in the stats.
func Replay(dir string, first int, repair bool, fn func(rec []byte) error) (ReplayStats, error) {
	var st ReplayStats
	all, err := Segments(dir)
	if err != nil {
		return st, err
	}
	var segs []int
	for _, s := range all {
		if s >= first {
			segs = append(segs, s)
		}
	}
	for i, s := range segs {
		st.Segments++
		path := SegmentName(dir, s)
		data, err := os.ReadFile(path)
		if err != nil {
			return st, fmt.Errorf("read wal segment: %w", err)
		}
		last := i == len(segs)-1
		n, end, rerr := scan(data, last, fn)
		st.Records += n
		var ce *CorruptError
		switch {
		case rerr == nil:
		case errors.As(rerr, &ce):
			ce.Segment = s
			if !repair {
				return st, ce
			}
			st.Repaired = ce
			if err := cut(path, end); err != nil {
				return st, err
			}
			for _, later := range segs[i+1:] {
				if err := os.Remove(SegmentName(dir, later)); err != nil {
					return st, fmt.Errorf("remove wal segment: %w", err)
				}
			}
			return st, nil
		default:
			return st, rerr
		}
		if end < int64(len(data)) {
			st.TornTails++
			st.TornBytes += int64(len(data)) - end
			if err := cut(path, end); err != nil {
				return st, err
			}
		}
	}
	return st, nil
}

func cut(path string, size int64) error {
	if err := os.Truncate(path, size); err != nil {
		return fmt.Errorf("cut wal segment: %w", err)
	}
	return nil
}

// scan walks the records of one segment. It returns how many it passed
// to fn and the offset after the last good one. A bad record ends the
// scan: at the tail of the last segment (nothing but zeros after it, or a
// record running past the end) it is a torn write and scan returns nil;
// anywhere else it returns a *CorruptError.
func scan(data []byte, last bool, fn func([]byte) error) (int, int64, error) {
	n := 0
	off := 0
	for off < len(data) {
		bad := ""
		torn := false
		if len(data)-off < headerSize {
			bad, torn = "short record header", true
		} else {
			size := binary.LittleEndian.Uint32(data[off:])
			sum := binary.LittleEndian.Uint32(data[off+4:])
			switch {
			case size > MaxRecord:
				bad = fmt.Sprintf("record length %d", size)
				torn = allZero(data[off+headerSize:])
			case uint64(size) > uint64(len(data)-off-headerSize):
				bad, torn = "record runs past the end", true
			default:
				rec := data[off+headerSize : off+headerSize+int(size)]
				if crc32.Checksum(rec, castagnoli) != sum {
					bad = "checksum mismatch"
					torn = allZero(data[off+headerSize+int(size):])
				} else if size == 0 && sum == 0 {
					bad = "zeroed record"
					torn = allZero(data[off:])
				} else {
					if err := fn(rec); err != nil {
						return n, int64(off), err
					}
					n++
					off += headerSize + int(size)
					continue
				}
			}
		}
		if last && torn {
			return n, int64(off), nil
		}
		return n, int64(off), &CorruptError{Offset: int64(off), Reason: bad}
	}
	return n, int64(off), nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func crcOf(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
