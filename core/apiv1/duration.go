package apiv1

import (
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a time.Duration written in JSON and YAML as a Go duration
// string ("30s", "5m"). A number is read as seconds.
type Duration time.Duration

// MarshalJSON writes the duration as a string such as "5m0s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads "5m", "30s" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case string:
		p, err := time.ParseDuration(x)
		if err != nil {
			return fmt.Errorf("duration %q: %w", x, err)
		}
		*d = Duration(p)
	case float64:
		*d = Duration(x * float64(time.Second))
	default:
		return fmt.Errorf("duration must be a string like \"5m\" or seconds, got %s", b)
	}
	return nil
}

// UnmarshalYAML reads "5m", "30s" or a number of seconds.
func (d *Duration) UnmarshalYAML(unmarshal func(any) error) error {
	var v any
	if err := unmarshal(&v); err != nil {
		return err
	}
	switch x := v.(type) {
	case string:
		p, err := time.ParseDuration(x)
		if err != nil {
			return fmt.Errorf("duration %q: %w", x, err)
		}
		*d = Duration(p)
	case int:
		*d = Duration(time.Duration(x) * time.Second)
	case float64:
		*d = Duration(x * float64(time.Second))
	default:
		return fmt.Errorf("duration must be a string like \"5m\" or seconds, got %v", v)
	}
	return nil
}

// MarshalYAML writes the duration as a string such as "5m0s".
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }
