// Package notifytest holds test doubles for the notify package and its
// channels.
package notifytest

import (
	"bytes"
	"sort"
	"strings"
	"sync"
)

// Outbox is an in-memory notify.Outbox. A test keeps one across several
// Routers, as the store outlives a core across restarts.
type Outbox struct {
	mu sync.Mutex // guards m
	m  map[string][]byte
}

// NewOutbox returns an empty outbox.
func NewOutbox() *Outbox { return &Outbox{m: map[string][]byte{}} }

// Put stores a copy of v under k.
func (o *Outbox) Put(k, v []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.m[string(k)] = bytes.Clone(v)
	return nil
}

// Delete removes k.
func (o *Outbox) Delete(k []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.m, string(k))
	return nil
}

// Scan calls fn for the records under prefix in key order, as they were
// when Scan began, until fn returns false.
func (o *Outbox) Scan(prefix []byte, fn func(k, v []byte) bool) error {
	o.mu.Lock()
	var keys []string
	for k := range o.m {
		if strings.HasPrefix(k, string(prefix)) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		vals[i] = o.m[k]
	}
	o.mu.Unlock()
	for i, k := range keys {
		if !fn([]byte(k), vals[i]) {
			break
		}
	}
	return nil
}

// Len is the number of notifications waiting to be sent: the records, not
// a channel's in-flight mark (the record key of sequence number 0, written
// while a batch is in the channel's hands) nor the records of notifications
// whose delivery is unknown (kind byte 1 before the sequence number).
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for k := range o.m {
		if len(k) >= 9 && k[len(k)-9] == 0 && !strings.HasSuffix(k, inflightSuffix) {
			n++
		}
	}
	return n
}

// inflightSuffix ends the key of an in-flight mark: the zero byte after the
// channel name and a sequence number of 0.
const inflightSuffix = "\x00\x00\x00\x00\x00\x00\x00\x00\x00"
