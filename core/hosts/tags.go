package hosts

import (
	"errors"
	"fmt"
	"slices"

	"esmon/core/apiv1"
	"esmon/core/wire"
)

// ErrNoHost is returned for tags of a host the registry does not know.
var ErrNoHost = errors.New("no such host")

// TagError says why a set of tags is refused.
type TagError struct{ Msg string }

func (e *TagError) Error() string { return "tags: " + e.Msg }

// normalTags checks tags and returns them sorted without duplicates.
func normalTags(tags []string) ([]string, error) {
	if len(tags) > wire.MaxTags {
		return nil, &TagError{fmt.Sprintf("at most %d tags", wire.MaxTags)}
	}
	for _, t := range tags {
		if !wire.ValidTag(t) {
			return nil, &TagError{fmt.Sprintf("%.64q is not a tag: 1 to 64 letters, digits, -, _ or .", t)}
		}
	}
	out := slices.Clone(tags)
	slices.Sort(out)
	return slices.Compact(out), nil
}

// SetAgentTags records the tags host id's agent sends in its hello. They
// are in force unless an admin set the host's tags. Tags the wire decoder
// let through are valid; any that are not are dropped, not fatal to the
// connection. It returns the host as it now is, without its Latest values
// (a hello needs none, and reading them takes the store's head lock, which
// a fleet reconnecting after a restart keeps busy: every hello slot was
// held up there), and writes a change behind the hello, as Connected does.
func (r *Registry) SetAgentTags(id string, tags []string) (apiv1.Host, bool) {
	norm, err := normalTags(tags)
	if err != nil {
		r.log.Warn("ignoring the agent's tags", "host", id, "err", err)
		norm = nil
	}
	return r.changeTags(id, true, func(h *apiv1.Host) {
		h.AgentTags = norm
	})
}

// SetTags is an admin's set of tags for host id: it replaces the agent's
// until ClearTags, so that the people who run the estate have the last
// word, and an admin can take a tag away that an agent's settings carry.
func (r *Registry) SetTags(id string, tags []string) (apiv1.Host, error) {
	norm, err := normalTags(tags)
	if err != nil {
		return apiv1.Host{}, err
	}
	if norm == nil {
		norm = []string{}
	}
	h, ok := r.changeTags(id, false, func(h *apiv1.Host) {
		h.Tags, h.TagsByAdmin = norm, true
	})
	if !ok {
		return apiv1.Host{}, ErrNoHost
	}
	return h, nil
}

// ClearTags drops an admin's set of tags: the agent's are in force again.
func (r *Registry) ClearTags(id string) (apiv1.Host, error) {
	h, ok := r.changeTags(id, false, func(h *apiv1.Host) {
		h.TagsByAdmin = false
	})
	if !ok {
		return apiv1.Host{}, ErrNoHost
	}
	return h, nil
}

// changeTags applies fn to host id, derives the tags in force and saves
// the host if that changed it: an agent that says hello with the tags it
// had costs no disk write. For the agent's tags (agent true) the host comes
// without its Latest values and the write is not waited for; an admin's
// change gets both.
func (r *Registry) changeTags(id string, agent bool, fn func(*apiv1.Host)) (apiv1.Host, bool) {
	r.mu.Lock()
	e, ok := r.hosts[id]
	if !ok {
		r.mu.Unlock()
		return apiv1.Host{}, false
	}
	fn(&e.host)
	if !e.host.TagsByAdmin {
		e.host.Tags = slices.Clone(e.host.AgentTags)
	}
	h := e.snapshot()
	rec, dirty := e.dirty(false)
	r.mu.Unlock()
	if agent {
		if dirty {
			r.saveLater(rec)
		}
		return h, true
	}
	if dirty {
		r.save(rec)
	}
	return r.withLatest(h), true
}
