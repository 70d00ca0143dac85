package auth

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"

	"esmon/core/apiv1"
)

// MaxAudit bounds the audit log: past it the oldest entries go, checked
// every pruneEvery writes, so a flood of failed sign-ins cannot fill the
// disk.
const MaxAudit = 100_000

const pruneEvery = 1000

// Audit writes e to the audit log, stamped now. The log is the record of
// who signed in, who failed, and who changed what; writing it must not fail
// the change it records, so an error is logged, not returned.
func (s *Service) Audit(e apiv1.AuditEntry) {
	now := s.opts.Now()
	if e.At.IsZero() {
		e.At = now.UTC()
	}
	b, err := json.Marshal(e)
	if err == nil {
		s.mu.Lock()
		s.auditSeq++
		seq := s.auditSeq
		s.mu.Unlock()
		k := make([]byte, 17)
		k[0] = PrefixAudit
		binary.BigEndian.PutUint64(k[1:], uint64(e.At.UnixNano()))
		binary.BigEndian.PutUint64(k[9:], seq)
		err = s.opts.KV.Put(k, b)
		if err == nil && seq%pruneEvery == 0 {
			err = s.pruneAudit(MaxAudit)
		}
	}
	if err != nil {
		s.log.Error("write audit log", "action", e.Action, "err", err)
	}
	lvl := s.log.Info
	if !e.OK {
		lvl = s.log.Warn
	}
	lvl("audit", "action", e.Action, "actor", e.Actor, "target", e.Target, "ok", e.OK, "remote", e.Remote)
}

// pruneAudit deletes the oldest entries beyond keep.
func (s *Service) pruneAudit(keep int) error {
	var keys [][]byte
	err := s.opts.KV.Scan([]byte{PrefixAudit}, func(k, _ []byte) bool {
		keys = append(keys, slices.Clone(k))
		return true
	})
	if err != nil {
		return fmt.Errorf("prune audit log: %w", err)
	}
	for _, k := range keys[:max(0, len(keys)-keep)] {
		if err := s.opts.KV.Delete(k); err != nil {
			return fmt.Errorf("prune audit log: %w", err)
		}
	}
	return nil
}

// AuditLog returns up to limit entries, newest first.
func (s *Service) AuditLog(limit int) ([]apiv1.AuditEntry, error) {
	var all []apiv1.AuditEntry
	err := s.opts.KV.Scan([]byte{PrefixAudit}, func(_, v []byte) bool {
		var e apiv1.AuditEntry
		if json.Unmarshal(v, &e) == nil {
			all = append(all, e)
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	slices.Reverse(all)
	if limit > 0 && len(all) > limit {
		all = all[:limit]
	}
	return all, nil
}
