package hosts_test

import (
	"fmt"
	"testing"

	"esmon/core/hosts"
	"esmon/core/store"
	"esmon/core/wire"
)

// BenchmarkUpdate is the registry's share of ingest: one batch of an
// agent's series, with the series references the hub sets on every sample,
// for a host no page watches (UpdateBrief, as the core calls it then).
func BenchmarkUpdate(b *testing.B) {
	for _, n := range []int{40, 400} {
		b.Run(fmt.Sprintf("series=%d", n), func(b *testing.B) {
			db, err := store.Open(store.Options{InMemory: true, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			r, err := hosts.Open(db, quiet)
			if err != nil {
				b.Fatal(err)
			}
			r.Connected("web", wire.HostFacts{Hostname: "web"}, "1", t0)
			batch := make([]store.Sample, n)
			for i := range batch {
				s := sample("web", "disk_used_percent", float64(i), "mount", fmt.Sprintf("/srv/%d", i), "device", "sda")
				if s.Ref, err = db.Ref(s.Metric, s.Labels); err != nil {
					b.Fatal(err)
				}
				batch[i] = s
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r.UpdateBrief("web", batch, t0)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/sample")
		})
	}
}
