package notify

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"strings"

	"esmon/core/apiv1"
)

// Sent at most once per channel, and what is left of "at most".
//
// A notification leaves the outbox only after its channel took it. Between
// the channel taking it and the outbox record's deletion lies a window: a
// crash there (power cut, kill -9) leaves a record of something that was
// in fact sent. Deleting the record first would close the window the other
// way, by losing a notification whenever the crash comes before the send,
// which is worse for alerting. esmon narrows the window instead:
//
//   - Before each call to a channel, the sender durably marks the records of
//     the batch as in flight (one outbox key per channel: inflightKey).
//   - After a restart, records marked in flight are sent first, as the same
//     batch in the same order, flagged Redelivery, and counted
//     (esmon_notify_redeliveries_total), so that a duplicate can only come
//     from a crash inside that window, and is recognisable.
//   - Every notification carries a NotificationID, set once by Send and kept
//     in the outbox record, which the channels put where a receiver can
//     drop a second copy: the email's Message-ID (MessageID), the webhook's
//     and Teams' IDHeader and the webhook payload's notification_id.
//
// Records not marked in flight were never handed to a channel and are sent
// normally: they cannot be duplicates.

// IDHeader is the HTTP header that carries MessageID of a post, on the
// webhook and Teams channels.
const IDHeader = "X-Esmon-Notification-Id"

// newNotificationID returns a fresh random notification id.
func newNotificationID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// MessageID is the stable id of one message that carries ts: the
// notification id of a single transition, or a digest of the ids of many.
// The same transitions give the same id after a restart, so that a
// receiver can recognise a redelivery. It is "" when a transition has no
// id (a test notification), and the channel then makes up its own.
func MessageID(ts ...apiv1.Transition) string {
	if len(ts) == 1 {
		return ts[0].NotificationID
	}
	h := sha256.New()
	for _, t := range ts {
		if t.NotificationID == "" {
			return ""
		}
		h.Write([]byte(t.NotificationID))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// inflightKey is the outbox key that lists the records of a channel's batch
// being handed to it: the key of seq 0, which no record has.
func inflightKey(channel string) []byte { return outboxKey(channel, 0) }

// markInflight durably records that the items of batch are about to be
// handed to the channel. A failure to write it is logged and the batch is
// sent anyway: a possible duplicate after a crash beats a late notice.
func (s *sender) markInflight(batch []item) {
	ob := s.r.opts.Outbox
	if ob == nil {
		return
	}
	seqs := make([]uint64, 0, len(batch))
	for _, it := range batch {
		if it.key != nil {
			seqs = append(seqs, binary.BigEndian.Uint64(it.key[len(it.key)-8:]))
		}
	}
	if len(seqs) == 0 {
		return
	}
	b, _ := json.Marshal(seqs)
	if err := ob.Put(inflightKey(s.name), b); err != nil {
		s.r.log.Error("notify outbox: mark in flight", "channel", s.name, "err", err)
	}
}

// clearInflight forgets the in-flight mark once the channel answered.
func (s *sender) clearInflight() {
	if ob := s.r.opts.Outbox; ob != nil {
		if err := ob.Delete(inflightKey(s.name)); err != nil {
			s.r.log.Error("notify outbox: clear in flight", "channel", s.name, "err", err)
		}
	}
}

// redeliverFirst moves the queued items whose seqs the in-flight mark lists
// to the head of the queue, in their order, flags them Redelivery and makes
// them the sender's first batch. The caller owns s (NewRouter, before the
// sender runs).
func (s *sender) redeliverFirst(mark []byte) int {
	var seqs []uint64
	if json.Unmarshal(mark, &seqs) != nil || len(seqs) == 0 {
		return 0
	}
	want := make(map[uint64]int, len(seqs))
	for i, q := range seqs {
		want[q] = i
	}
	var head, rest []item
	for _, it := range s.queue {
		if _, ok := want[binary.BigEndian.Uint64(it.key[len(it.key)-8:])]; ok {
			it.t.Redelivery = true
			head = append(head, it)
		} else {
			rest = append(rest, it)
		}
	}
	s.queue = append(head, rest...)
	s.firstBatch = len(head)
	return len(head)
}

// isInflightKey reports whether an outbox key is a channel's in-flight mark.
func isInflightKey(k []byte) bool {
	return len(k) >= 1+1+8 && k[len(k)-9] == 0 && binary.BigEndian.Uint64(k[len(k)-8:]) == 0 &&
		!strings.ContainsRune(string(k[1:len(k)-9]), 0)
}
