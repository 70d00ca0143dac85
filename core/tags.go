package core

import (
	"fmt"

	"esmon/core/apiv1"
)

// tagHost records the tags an agent's hello carries for host id and tells
// the alert engine the tags now in force, and returns the host.
func (c *Core) tagHost(id string, agentTags []string) apiv1.Host {
	h, _ := c.hosts.SetAgentTags(id, agentTags)
	c.transitions(c.alerts.SetHostTags(id, h.Tags))
	if c.live.WantsLatest(id) {
		// The console, or a page on this host: the event carries the
		// latest values, as an ingested batch's does.
		if full, ok := c.hosts.Get(id); ok {
			return full
		}
	}
	return h
}

// loadHostTags tells the alert engine the tags of every known host, so
// that "tag" rules match from the first sample after a restart. The tags
// are those stored with the alerts' hosts, so no alert ends here but one
// whose host lost the tag before the core stopped; that end is recorded
// in the history, and the page and the console show the alert gone.
func (c *Core) loadHostTags() {
	for _, h := range c.hosts.ListBrief() {
		c.alerts.SetHostTags(h.ID, h.Tags)
	}
}

// SetHostTags is an admin's set of tags for host id, which replaces its
// agent's until ClearHostTags; rules match the new tags from the host's
// next sample, and pages see the change at once.
func (a alerting) SetHostTags(id string, tags []string, by string) (apiv1.Host, error) {
	h, err := a.c.hosts.SetTags(id, tags)
	if err != nil {
		return apiv1.Host{}, fmt.Errorf("set tags of %s: %w", id, err)
	}
	a.retagged(h, by)
	return h, nil
}

// ClearHostTags returns host id to its agent's tags.
func (a alerting) ClearHostTags(id, by string) (apiv1.Host, error) {
	h, err := a.c.hosts.ClearTags(id)
	if err != nil {
		return apiv1.Host{}, fmt.Errorf("clear tags of %s: %w", id, err)
	}
	a.retagged(h, by)
	return h, nil
}

func (a alerting) retagged(h apiv1.Host, by string) {
	a.c.live.Publish(apiv1.Event{Type: apiv1.EventHost, Host: &h})
	a.c.transitions(a.c.alerts.SetHostTags(h.ID, h.Tags))
	a.c.log.Info("host tags changed", "host", h.ID, "tags", h.Tags, "by_admin", h.TagsByAdmin, "by", by)
}
