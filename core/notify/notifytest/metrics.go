package notifytest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Notifications reads esmon_notify_notifications_total from reg: the sum
// over the series with this outcome and, unless channel is "", this
// channel; 0 when there is none.
func Notifications(t testing.TB, reg prometheus.Gatherer, channel, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != "esmon_notify_notifications_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			ls := map[string]string{}
			for _, l := range m.GetLabel() {
				ls[l.GetName()] = l.GetValue()
			}
			if ls["outcome"] == outcome && (channel == "" || ls["channel"] == channel) {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
