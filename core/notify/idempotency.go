package notify

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"slices"

	"esmon/core/apiv1"
)

// Sent at most once per channel, and what "unknown" means.
//
// A notification is in the outbox before it is queued and leaves it only
// once its channel answered. Between the channel taking it and the core
// hearing so lies a window that no local disk can close: a crash there
// (power cut, kill -9) leaves a record of something that may have been
// sent. esmon keeps that window as small as it can and, by default, does
// not send what was in it again:
//
//   - Just before each call to a channel, the sender durably marks the
//     records of the batch as being sent (one outbox key per channel:
//     inflightKey, written with the store's fsync).
//   - Just after the answer, one durable write replaces the mark with the
//     records the answer settled (taken, or refused for good); their
//     records are then deleted and the mark with them. Records the channel
//     refused for now are left unmarked and retried.
//   - At the next start, records of a "done" mark are deleted: they were
//     answered. Records of a "sending" mark were in the channel's hands
//     with no answer heard: their delivery is unknown. They are not sent
//     again; each moves to a delivery-unknown record (kind unknownKind,
//     the last maxUnknown per channel kept, served by Router.Unknown), and
//     is counted (esmon_notify_notifications_total{outcome="unknown"}) and
//     logged at warn.
//   - With Options.RedeliverUnknown (alerting.redeliver_unknown), they are
//     sent again first instead, as the same batch in the same order,
//     flagged Redelivery and counted as "redelivered": a possible
//     duplicate rather than a possible loss.
//   - Every notification carries a NotificationID, set once by Send and kept
//     in the outbox record, which the channels put where a receiver can
//     drop a second copy: the email's Message-ID (MessageID), the webhook's
//     and Teams' IDHeader and the webhook payload's notification_id. A
//     retry after a timeout (the far end may have taken the post before
//     the time ran out) carries the same id.
//
// Records not marked were never handed to a channel, or were refused by
// it, and are sent normally after a restart: they cannot be duplicates.

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

// inflightKey is the outbox key of a channel's in-flight mark: the record
// key of seq 0, which no record has.
func inflightKey(channel string) []byte { return outboxKey(channel, 0) }

// maxUnknown bounds the delivery-unknown records kept per channel; older
// ones are forgotten at start.
const maxUnknown = 100

// inflightMark is the value of a channel's in-flight mark. Sending lists
// the records handed to the channel whose answer has not been heard; Done,
// once it came, the records it settled, whose deletion is under way. A
// mark written before Done existed is a bare JSON array of Sending.
type inflightMark struct {
	Sending []uint64 `json:"sending,omitempty"`
	Done    []uint64 `json:"done,omitempty"`
}

func seqsOf(items []item) []uint64 {
	seqs := make([]uint64, 0, len(items))
	for _, it := range items {
		if it.key != nil {
			seqs = append(seqs, binary.BigEndian.Uint64(it.key[len(it.key)-8:]))
		}
	}
	return seqs
}

func (s *sender) putMark(m inflightMark) {
	b, _ := json.Marshal(m)
	if err := s.r.opts.Outbox.Put(inflightKey(s.name), b); err != nil {
		s.r.log.Error("notify outbox: mark in flight", "channel", s.name, "err", err)
	}
}

// markSending durably records that the items of batch are about to be
// handed to the channel. A failure to write it is logged and the batch is
// sent anyway: a late notice beats none.
func (s *sender) markSending(batch []item) {
	if s.r.opts.Outbox == nil {
		return
	}
	if seqs := seqsOf(batch); len(seqs) > 0 {
		s.putMark(inflightMark{Sending: seqs})
	}
}

// markAnswered replaces the mark, once the channel answered, with the
// items the answer settled, before their records are deleted; with none
// settled it clears the mark.
func (s *sender) markAnswered(settled []item) {
	if s.r.opts.Outbox == nil {
		return
	}
	if seqs := seqsOf(settled); len(seqs) > 0 {
		s.putMark(inflightMark{Done: seqs})
		return
	}
	s.clearInflight()
}

// clearInflight forgets the in-flight mark once the records it lists are
// gone.
func (s *sender) clearInflight() {
	if ob := s.r.opts.Outbox; ob != nil {
		if err := ob.Delete(inflightKey(s.name)); err != nil {
			s.r.log.Error("notify outbox: clear in flight", "channel", s.name, "err", err)
		}
	}
}

// settle deals, at start, with the mark the channel's last run left: the
// records it lists as done are deleted; those it lists as being sent
// become delivery-unknown records or, with RedeliverUnknown, the first
// batch to send again. The caller owns s (NewRouter, before the sender
// runs).
func (s *sender) settle(raw []byte) error {
	var m inflightMark
	if json.Unmarshal(raw, &m.Sending) != nil && json.Unmarshal(raw, &m) != nil {
		s.r.log.Warn("notify outbox: unreadable in-flight mark ignored", "channel", s.name)
	}
	ob := s.r.opts.Outbox
	done := take(&s.queue, m.Done)
	for _, it := range done {
		if err := ob.Delete(it.key); err != nil {
			return err
		}
	}
	if s.r.opts.RedeliverUnknown {
		if n := s.redeliverFirst(m.Sending); n > 0 {
			s.count(OutcomeRedelivered, n)
			s.r.log.Warn("notify outbox: the core stopped while a channel had these notifications in hand; sending them again with the same notification ids (alerting.redeliver_unknown)",
				"channel", s.name, "transitions", n)
			// The mark stays until the redelivery's own replaces it.
			return nil
		}
		return ob.Delete(inflightKey(s.name))
	}
	unknown := take(&s.queue, m.Sending)
	// The unknown records are written before the pending ones go, so a
	// crash in between leaves both, and the mark, to settle again.
	for i, it := range unknown {
		_, _, seq, _ := parseKey(it.key)
		b, err := json.Marshal(it.t)
		if err != nil {
			return err
		}
		k := kindKey(s.name, unknownKind, seq)
		if err := ob.Put(k, b); err != nil {
			return err
		}
		unknown[i].key = k
	}
	for _, seq := range m.Sending {
		if err := ob.Delete(outboxKey(s.name, seq)); err != nil {
			return err
		}
	}
	if err := ob.Delete(inflightKey(s.name)); err != nil {
		return err
	}
	if len(unknown) == 0 {
		return nil
	}
	// A crash during an earlier settle may have left some of them
	// already loaded as delivery-unknown records.
	for _, it := range unknown {
		if !slices.ContainsFunc(s.unknown, func(u item) bool { return bytes.Equal(u.key, it.key) }) {
			s.unknown = append(s.unknown, it)
		}
	}
	slices.SortFunc(s.unknown, func(a, b item) int { return bytes.Compare(a.key, b.key) })
	s.count(OutcomeUnknown, len(unknown))
	alerts := make([]string, len(unknown))
	ids := make([]string, len(unknown))
	for i, it := range unknown {
		alerts[i], ids[i] = it.t.Alert.ID, it.t.NotificationID
	}
	s.r.log.Warn("notify outbox: delivery unknown: the core stopped while the channel had these notifications in hand and never heard its answer; not sending them again (at most once; alerting.redeliver_unknown sends them again)",
		"channel", s.name, "transitions", len(unknown), "alerts", alerts, "notification_ids", ids)
	return nil
}

// trimUnknown forgets all but the newest maxUnknown delivery-unknown
// records. The caller owns s.
func (s *sender) trimUnknown() error {
	over := len(s.unknown) - maxUnknown
	if over <= 0 {
		return nil
	}
	for _, it := range s.unknown[:over] {
		if err := s.r.opts.Outbox.Delete(it.key); err != nil {
			return err
		}
	}
	s.unknown = slices.Delete(s.unknown, 0, over)
	return nil
}

// take removes from *queue the items whose seqs are listed and returns
// them in the list's order.
func take(queue *[]item, seqs []uint64) []item {
	if len(seqs) == 0 {
		return nil
	}
	at := make(map[uint64]int, len(seqs))
	for i, q := range seqs {
		at[q] = i
	}
	found := make([]*item, len(seqs))
	rest := (*queue)[:0]
	for _, it := range *queue {
		if i, ok := at[binary.BigEndian.Uint64(it.key[len(it.key)-8:])]; ok {
			found[i] = &it
		} else {
			rest = append(rest, it)
		}
	}
	var out []item
	for _, p := range found {
		if p != nil {
			out = append(out, *p)
		}
	}
	*queue = rest
	return out
}

// redeliverFirst moves the queued items whose seqs are listed to the head
// of the queue, in the list's order, flags them Redelivery and makes them
// the sender's first batch. The caller owns s.
func (s *sender) redeliverFirst(seqs []uint64) int {
	head := take(&s.queue, seqs)
	for i := range head {
		head[i].t.Redelivery = true
	}
	s.queue = append(head, s.queue...)
	s.firstBatch = len(head)
	return len(head)
}
