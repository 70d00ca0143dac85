package core

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"esmon/core/apiv1"
	"esmon/core/hub"
)

// TestLimitAndEscalationSettings: the settings this change adds read from
// the settings file as operators write them, unknown keys refused as
// `esmon serve` refuses them.
func TestLimitAndEscalationSettings(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		check   func(o Options) any
		want    any
		wantErr bool
	}{
		{"default escalation chain", "alerting:\n  escalation:\n    - after: 5m\n      channels: [email]\n    - {after: 1h, channels: [teams, log]}\n",
			func(o Options) any { return o.Alerting.Escalation },
			[]apiv1.EscalationStep{{After: apiv1.Duration(5 * time.Minute), Channels: []string{"email"}}, {After: apiv1.Duration(time.Hour), Channels: []string{"teams", "log"}}}, false},
		{"redeliver unknown", "alerting:\n  redeliver_unknown: true\n",
			func(o Options) any { return o.Alerting.RedeliverUnknown }, true, false},
		{"agent limits", "agent_limits:\n  max_series_per_host: 20000\n  max_samples_per_second: 5000\n  max_throttle: 10s\n",
			func(o Options) any { return o.AgentLimits },
			hub.Limits{MaxSeriesPerHost: 20000, MaxSamplesPerSecond: 5000, MaxThrottle: 10 * time.Second}, false},
		{"http limits", "http:\n  read_header_timeout: 5s\n  read_timeout: 30s\n  idle_timeout: 1m\n  max_header_bytes: 32768\n",
			func(o Options) any { return o.HTTP },
			HTTPLimits{ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 32768}, false},
		{"a typo is refused", "agent_limits:\n  max_series: 10\n", nil, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var o Options
			dec := yaml.NewDecoder(bytes.NewReader([]byte(tc.doc)))
			dec.KnownFields(true)
			err := dec.Decode(&o)
			if tc.wantErr {
				if err == nil {
					t.Fatal("decoded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.check(o); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
