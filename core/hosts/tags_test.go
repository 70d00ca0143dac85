package hosts_test

import (
	"errors"
	"slices"
	"testing"

	"esmon/core/apiv1"
	"esmon/core/hosts"
	"esmon/core/wire"
)

// TestTags: the agent's tags are in force until an admin sets the host's
// own; clearing the admin's set returns to the agent's; both survive a
// restart; bad tags are refused with a reason.
func TestTags(t *testing.T) {
	db := openDB(t)
	r := open(t, db)
	r.Connected("web-01", wire.HostFacts{Hostname: "web-01"}, "1.0", t0)
	steps := []struct {
		name      string
		do        func() (apiv1.Host, error)
		wantTags  []string
		wantAdmin bool
	}{
		{"agent's tags, sorted, no duplicates", func() (apiv1.Host, error) {
			h, _ := r.SetAgentTags("web-01", []string{"prod", "maximo", "prod"})
			return h, nil
		}, []string{"maximo", "prod"}, false},
		{"admin's set replaces them", func() (apiv1.Host, error) { return r.SetTags("web-01", []string{"team-db"}) }, []string{"team-db"}, true},
		{"the agent's new tags wait behind the admin's", func() (apiv1.Host, error) {
			h, _ := r.SetAgentTags("web-01", []string{"dev"})
			return h, nil
		}, []string{"team-db"}, true},
		{"admin may take every tag away", func() (apiv1.Host, error) { return r.SetTags("web-01", nil) }, nil, true},
		{"clearing returns to the agent's", func() (apiv1.Host, error) { return r.ClearTags("web-01") }, []string{"dev"}, false},
		{"admin's set again", func() (apiv1.Host, error) { return r.SetTags("web-01", []string{"b", "a"}) }, []string{"a", "b"}, true},
	}
	for _, st := range steps {
		h, err := st.do()
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if !slices.Equal(h.Tags, st.wantTags) || h.TagsByAdmin != st.wantAdmin {
			t.Fatalf("%s: tags %q by admin %v, want %q by admin %v", st.name, h.Tags, h.TagsByAdmin, st.wantTags, st.wantAdmin)
		}
		if got, _ := r.Get("web-01"); !slices.Equal(got.Tags, st.wantTags) {
			t.Fatalf("%s: Get says %q", st.name, got.Tags)
		}
	}
	// A restart keeps both sets and which is in force.
	h, _ := open(t, db).Get("web-01")
	if !slices.Equal(h.Tags, []string{"a", "b"}) || !h.TagsByAdmin || !slices.Equal(h.AgentTags, []string{"dev"}) {
		t.Errorf("after restart: %+v", h)
	}

	bad := []struct {
		name string
		tags []string
	}{
		{"space", []string{"a b"}},
		{"too many", make([]string, wire.MaxTags+1)},
	}
	for _, b := range bad {
		var te *hosts.TagError
		if _, err := r.SetTags("web-01", b.tags); !errors.As(err, &te) {
			t.Errorf("%s: %v, want a TagError", b.name, err)
		}
	}
	if _, err := r.SetTags("nope", []string{"a"}); !errors.Is(err, hosts.ErrNoHost) {
		t.Errorf("unknown host: %v", err)
	}
}
