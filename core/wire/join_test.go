package wire

import (
	"encoding/base64"
	"strings"
	"testing"
)

const pinForTest = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="

func TestParseJoinCode(t *testing.T) {
	good := JoinCode{URL: "https://core.example:8470", Pin: pinForTest, Secret: "0011223344556677.c2VjcmV0", Expires: 1900000000}
	raw := func(json string) string { return JoinCodePrefix + base64.RawURLEncoding.EncodeToString([]byte(json)) }
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"round trip", good.String(), ""},
		{"surrounding space from a paste", "  " + good.String() + "\n", ""},
		{"plain HTTP core without pin", JoinCode{URL: "http://core:8470", Secret: "a.b", Expires: 1}.String(), ""},
		{"no prefix", strings.TrimPrefix(good.String(), JoinCodePrefix), "must start with"},
		{"cut short", good.String()[:40], "damaged"},
		{"not base64", JoinCodePrefix + "!!!", "damaged"},
		{"not JSON", raw("nope"), "damaged"},
		{"https without pin", JoinCode{URL: "https://core", Secret: "a.b"}.String(), "pin"},
		{"http with a pin", JoinCode{URL: "http://core", Pin: pinForTest, Secret: "a.b"}.String(), "pin"},
		{"short pin", JoinCode{URL: "https://core", Pin: "YWJj", Secret: "a.b"}.String(), "pin"},
		{"ftp core", JoinCode{URL: "ftp://core", Pin: pinForTest, Secret: "a.b"}.String(), "core address"},
		{"no host", JoinCode{URL: "https://", Pin: pinForTest, Secret: "a.b"}.String(), "core address"},
		{"no secret", JoinCode{URL: "https://core", Pin: pinForTest}.String(), "secret"},
		{"huge", JoinCodePrefix + strings.Repeat("A", 5000), "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := ParseJoinCode(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseJoinCode: %v", err)
				}
				if j.String() != strings.TrimSpace(tt.in) {
					t.Errorf("round trip %q, want %q", j.String(), strings.TrimSpace(tt.in))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseJoinCode: %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}

func TestPins(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{pinForTest, true},
		{"sha256/" + pinForTest, true},
		{"sha256//" + pinForTest, true},
		{" " + pinForTest + " ", true},
		{pinForTest[:40], false},
		{"", false},
		{strings.Repeat("x", 44), false},
	} {
		if got := ValidPin(tt.in); got != tt.want {
			t.Errorf("ValidPin(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// FuzzParseJoinCode feeds the join code decoder what a paste could hold:
// it must return a code or an error, never panic, and a code it accepts
// must encode back to itself.
func FuzzParseJoinCode(f *testing.F) {
	f.Add(JoinCode{URL: "https://core.example:8470", Pin: pinForTest, Secret: "0011.c2VjcmV0", Expires: 1}.String())
	f.Add(JoinCodePrefix + "e30")
	f.Add("esmon1_")
	f.Fuzz(func(t *testing.T, s string) {
		j, err := ParseJoinCode(s)
		if err != nil {
			return
		}
		again, err := ParseJoinCode(j.String())
		if err != nil || again != j {
			t.Fatalf("accepted %q but its re-encoding gives %+v, %v", s, again, err)
		}
	})
}
