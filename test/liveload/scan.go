package main

import (
	"bytes"
	"io"
	"time"
)

// How a subscriber reads a message cheaply enough for a thousand of them on
// the machine that also runs the core: it does not decode the JSON. The
// core writes every host event's fields in one order (see
// apiv1.LiveHost), so in a host event or a batch each online host's
// update holds the bytes `"online":true,"last_seen":"` followed by the
// core's RFC 3339 time. scanDelays finds each with bytes.Index and parses
// only that time. Snapshots and alert events are skipped by their first
// bytes; offline hosts (whose last_seen is old) are skipped by the match.
var (
	hostPrefix  = []byte(`{"type":"host",`)
	batchPrefix = []byte(`{"type":"batch",`)
	seenMark    = []byte(`"online":true,"last_seen":"`)
)

// scanDelays calls add with got minus the last_seen of every online host
// update in msg, and returns how many it found.
func scanDelays(msg []byte, got time.Time, add func(time.Duration)) int {
	if !bytes.HasPrefix(msg, hostPrefix) && !bytes.HasPrefix(msg, batchPrefix) {
		return 0
	}
	n := 0
	for {
		i := bytes.Index(msg, seenMark)
		if i < 0 {
			return n
		}
		msg = msg[i+len(seenMark):]
		end := bytes.IndexByte(msg, '"')
		if end < 0 {
			return n
		}
		if at, err := time.Parse(time.RFC3339Nano, string(msg[:end])); err == nil {
			add(got.Sub(at))
			n++
		}
		msg = msg[end:]
	}
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
