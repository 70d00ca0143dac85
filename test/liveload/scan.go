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
// values), or `[` followed by the host's number on the feed (or its id in
// quotes), 1 (online) and the time in Unix milliseconds (the short form,
// nearly every event: alone as {"type":"h","h":[...]}, in a batch as the
// array alone). scanDelays finds each with bytes.Index and parses only
// the time.
// Snapshots and alert events are skipped by their first bytes; offline
// hosts (whose last_seen is old) are skipped by the match.
var (
	hostPrefix  = []byte(`{"type":"host",`)
	briefPrefix = []byte(`{"type":"h",`)
	batchPrefix = []byte(`{"type":"batch",`)
	seenMark    = []byte(`"online":true,"last_seen":"`)
	briefOnline = []byte(`,1,`)
)

// scanDelays calls add with got minus the last_seen of every online host
// update in msg, and returns how many it found.
func scanDelays(msg []byte, got time.Time, add func(time.Duration)) int {
	if !bytes.HasPrefix(msg, hostPrefix) && !bytes.HasPrefix(msg, briefPrefix) && !bytes.HasPrefix(msg, batchPrefix) {
		return 0
	}
	n := 0
	for rest := msg; ; {
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
	for rest := msg; ; {
		i := bytes.IndexByte(rest, '[')
		if i < 0 {
			break
		}
		rest = rest[i+1:]
		// The host's number or its id (a host id has no quote in it),
		// then online, then the time and the status; any other array
		// (tags, a batch's events, a short alert event) stops at one of
		// them.
		if len(rest) > 0 && rest[0] == '"' {
			end := bytes.IndexByte(rest[1:], '"')
			if end < 0 {
				break
			}
			rest = rest[1+end+1:]
		} else {
			n := 0
			for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
				n++
			}
			if n == 0 {
				continue
			}
			rest = rest[n:]
		}
		if !bytes.HasPrefix(rest, briefOnline) {
			continue
		}
		rest = rest[len(briefOnline):]
		ms, ok := int64(0), false
		for len(rest) > 0 && rest[0] >= '0' && rest[0] <= '9' {
			ms, ok = ms*10+int64(rest[0]-'0'), true
			rest = rest[1:]
		}
		if ok && ms > 0 && bytes.HasPrefix(rest, []byte(`,"`)) {
			add(got.Sub(time.UnixMilli(ms)))
			n++
		}
	}
	return n
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
