package main

import (
	"bytes"
	"io"
	"time"
)

// How a subscriber reads a message cheaply enough for a thousand of them on
// the machine that also runs the core: it does not decode the JSON. The
// core writes every host event's fields in one order (see apiv1.LiveHost
// and apiv1.HostBrief), so in a host event or a batch each online host's
// update holds either the bytes `"online":true,"last_seen":"` followed by
// the core's RFC 3339 time (an event with the host's identity or latest
// values), or is an array [host, state, seen, cpu, memory, disk]: the
// host's number on the feed (or its id in quotes), an odd state (online),
// and the time in milliseconds since the feed's epoch (the short form,
// nearly every event: alone as {"type":"h","h":[...]}, in a batch as the
// array alone). The epoch comes in the snapshot, right after its type, and
// in epoch events, alone or in a batch before the arrays that count from
// it. A scanner finds each by its first byte and parses only the numbers.
// Alert events are skipped by their first bytes or their shape; offline
// hosts (whose last_seen is old) by the match.
var (
	hostPrefix     = []byte(`{"type":"host",`)
	briefPrefix    = []byte(`{"type":"h",`)
	batchPrefix    = []byte(`{"type":"batch",`)
	snapshotPrefix = []byte(`{"type":"snapshot",`)
	epochMark      = []byte(`{"type":"epoch","epoch":`)
	snapshotEpoch  = []byte(`{"type":"snapshot","epoch":`)
	seenMark       = []byte(`"online":true,"last_seen":"`)
)

// scanner reads one subscriber's messages, in order: it keeps the feed's
// epoch.
type scanner struct {
	epoch int64
}

// scan calls add with got minus the last_seen of every online host update
// in msg, and returns how many it found. Every message of the feed goes
// through it, also those not measured (add nil), which it only reads for
// the epoch.
func (s *scanner) scan(msg []byte, got time.Time, add func(time.Duration)) int {
	if bytes.HasPrefix(msg, snapshotPrefix) {
		s.epoch = 0
		if rest, ok := bytes.CutPrefix(msg, snapshotEpoch); ok {
			s.epoch, _, _ = number(rest)
		}
		return 0
	}
	if rest, ok := bytes.CutPrefix(msg, epochMark); ok {
		s.epoch, _, _ = number(rest)
		return 0
	}
	if !bytes.HasPrefix(msg, hostPrefix) && !bytes.HasPrefix(msg, briefPrefix) && !bytes.HasPrefix(msg, batchPrefix) {
		return 0
	}
	if add == nil {
		// Not measured: only the epoch matters, the last one in msg.
		if i := bytes.LastIndex(msg, epochMark); i >= 0 {
			s.epoch, _, _ = number(msg[i+len(epochMark):])
		}
		return 0
	}
	// One pass over the rows ('[') and, beside it, over the objects ('{'):
	// an epoch event sets the epoch for the rows after it; a full host
	// event means the message has RFC 3339 times to read (rare: a host's
	// identity or its latest values, not its regular update). In a batch
	// of rows there is no '{' after the batch's own, so the objects cost
	// one IndexByte over the message and the rows one short hop each.
	firstHost := -1
	nextEpoch := func(from int) int {
		for {
			i := bytes.IndexByte(msg[from:], '{')
			if i < 0 {
				return len(msg)
			}
			from += i
			if bytes.HasPrefix(msg[from:], epochMark) {
				return from
			}
			if firstHost < 0 && bytes.HasPrefix(msg[from:], hostPrefix) {
				firstHost = from
			}
			from++
		}
	}
	gotNs := got.UnixNano()
	n := 0
	ep := nextEpoch(0)
	for at := 0; ; {
		i := bytes.IndexByte(msg[at:], '[')
		if i < 0 {
			break
		}
		at += i + 1
		for ep < at {
			s.epoch, _, _ = number(msg[ep+len(epochMark):])
			ep = nextEpoch(ep + len(epochMark))
		}
		if seen, ok := row(msg[at:]); ok {
			add(time.Duration(gotNs - (s.epoch+seen)*int64(time.Millisecond)))
			n++
		}
	}
	for ep < len(msg) && firstHost < 0 {
		ep = nextEpoch(ep + 1)
	}
	if firstHost < 0 {
		return n
	}
	for rest := msg[firstHost:]; ; {
		i := bytes.Index(rest, seenMark)
		if i < 0 {
			break
		}
		rest = rest[i+len(seenMark):]
		end := bytes.IndexByte(rest, '"')
		if end < 0 {
			break
		}
		if at, err := time.Parse(time.RFC3339Nano, string(rest[:end])); err == nil {
			add(got.Sub(at))
			n++
		}
		rest = rest[end:]
	}
	return n
}

// row reads what follows a '[' as a short host event of an online host,
// [host, state, seen, cpu, memory, disk], and returns its seen; ok is
// false for anything else (tags, a batch's events, a short alert event,
// an offline host). It runs for every row a thousand subscribers read,
// so it walks b by index, a digit being a byte less '0' under 10.
func row(b []byte) (seen int64, ok bool) {
	i := 0
	// The host's number or its id (a host id has no quote in it).
	if len(b) > 0 && b[0] == '"' {
		end := bytes.IndexByte(b[1:], '"')
		if end < 0 {
			return 0, false
		}
		i = end + 2
	} else {
		for i < len(b) && b[i]-'0' < 10 {
			i++
		}
		if i == 0 {
			return 0, false
		}
	}
	// The state, odd for an online host.
	if i >= len(b) || b[i] != ',' {
		return 0, false
	}
	i++
	from, state := i, byte(0)
	for i < len(b) && b[i]-'0' < 10 {
		state = b[i] - '0'
		i++
	}
	if i == from || state%2 != 1 {
		return 0, false
	}
	// The time since the feed's epoch, in milliseconds.
	if i >= len(b) || b[i] != ',' {
		return 0, false
	}
	i++
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	from = i
	for i < len(b) && b[i]-'0' < 10 {
		seen = seen*10 + int64(b[i]-'0')
		i++
	}
	if i == from {
		return 0, false
	}
	if neg {
		seen = -seen
	}
	// Three gauges, then the end.
	for range 3 {
		if i >= len(b) || b[i] != ',' {
			return 0, false
		}
		i++
		from = i
		for i < len(b) && (b[i]-'0' < 10 || b[i] == '.' || b[i] == '-' || b[i] == 'e' || b[i] == 'E' || b[i] == '+') {
			i++
		}
		if i == from {
			return 0, false
		}
	}
	return seen, i < len(b) && b[i] == ']'
}

// number reads an integer, perhaps negative, from the start of b and
// returns it with the rest of b.
func number(b []byte) (int64, []byte, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	v, j := int64(0), 0
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		v = v*10 + int64(b[j]-'0')
		j++
	}
	if neg {
		v = -v
	}
	return v, b[j:], j > 0
}

// readAll reads r into buf's spare room, growing it as needed, so that a
// subscriber reuses one buffer for every message.
func readAll(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
