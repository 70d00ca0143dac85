package wire

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestHelloTags: a hello carries the agent's tags to the core; a tag that
// is not a plain word, or too many of them, makes the hello malformed.
func TestHelloTags(t *testing.T) {
	tests := []struct {
		name    string
		tags    []string
		wantErr string
	}{
		{"none", nil, ""},
		{"words", []string{"prod", "team-db", "site_2", "v1.2"}, ""},
		{"space", []string{"two words"}, "tag"},
		{"empty", []string{""}, "tag"},
		{"too long", []string{strings.Repeat("t", 65)}, "tag"},
		{"too many", make([]string, MaxTags+1), "tags, limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame, err := Encode(&Hello{Version: Version, AgentID: "a", Tags: tt.tags})
			if err != nil {
				t.Fatal(err)
			}
			msg, err := Decode(frame)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Decode: %v, want malformed about %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := msg.(*Hello).Tags; !reflect.DeepEqual(got, tt.tags) {
				t.Fatalf("tags %q, want %q", got, tt.tags)
			}
		})
	}
}
