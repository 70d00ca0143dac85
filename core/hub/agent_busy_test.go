package hub

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"esmon/core/store"
	"esmon/core/wire"
)

// slowHellos is an Ingester whose hellos wait until release is closed, as
// when the store is slow to write the agents' records.
type slowHellos struct {
	fakeIngester
	started chan struct{}
	release chan struct{}
}

func (s *slowHellos) Hello(h *wire.Hello) (string, error) {
	s.started <- struct{}{}
	<-s.release
	return s.fakeIngester.Hello(h)
}

func (s *slowHellos) Ingest(ctx context.Context, host string, samples []store.Sample) error {
	return s.fakeIngester.Ingest(ctx, host, samples)
}

// TestAgentHellosBounded fills every hello slot with agents whose hello the
// core is still handling: the next agent is told to come back later (close
// 1013, counted as busy) instead of waiting in the core's memory, and the
// waiting ones are welcomed once the store answers.
func TestAgentHellosBounded(t *testing.T) {
	in := &slowHellos{started: make(chan struct{}, maxHellos+1), release: make(chan struct{})}
	_, reg, url := newAgents(t, in)
	waiting := make([]*websocket.Conn, maxHellos)
	for i := range waiting {
		waiting[i] = dial(t, url)
		h := hello(goodToken)
		h.AgentID = fmt.Sprintf("agent-%d", i)
		send(t, waiting[i], h)
	}
	for range maxHellos {
		<-in.started
	}
	late := dial(t, url)
	send(t, late, hello(goodToken))
	if code, reason := closeCode(t, late); code != CloseBusy {
		t.Fatalf("agent past %d hellos at once: close %d %q, want %d (try again later)", maxHellos, code, reason, CloseBusy)
	}
	if n := metric(t, reg, "esmon_agent_connections_rejected_total", "reason", "busy"); n != 1 {
		t.Errorf("busy refusals counted %g, want 1", n)
	}
	close(in.release)
	for _, ws := range waiting {
		recv[wire.Welcome](t, ws)
	}
}

// slowIngest is an Ingester whose batches wait until release is closed, as
// when the store's log is slow to sync.
type slowIngest struct {
	fakeIngester
	started chan struct{}
	release chan struct{}
}

func (s *slowIngest) Ingest(ctx context.Context, host string, samples []store.Sample) error {
	s.started <- struct{}{}
	<-s.release
	return s.fakeIngester.Ingest(ctx, host, samples)
}

// TestAckLatencyCountsTheWait holds every batch hand-off token with batches
// the store has not stored yet, and sends one batch more: it waits for a
// token, and its acknowledgement latency in esmon_batch_ack_seconds counts
// that wait, as the agent sees it, from the frame's arrival. Counted from
// the start of its ingest (as it was), it was the one fast batch.
func TestAckLatencyCountsTheWait(t *testing.T) {
	const hold = 300 * time.Millisecond
	in := &slowIngest{started: make(chan struct{}, maxBatchWork+1), release: make(chan struct{})}
	_, reg, url := newAgents(t, in)
	agents := make([]*websocket.Conn, maxBatchWork+1)
	for i := range agents {
		agents[i] = dial(t, url)
		h := hello(goodToken)
		h.AgentID, h.Host.Hostname = fmt.Sprintf("agent-%d", i), fmt.Sprintf("host-%d", i)
		send(t, agents[i], h)
		recv[wire.Welcome](t, agents[i])
	}
	batch := &wire.Batch{Seq: 1, Defs: []wire.SeriesDef{{ID: 1, Metric: wire.CPUUsagePercent}},
		Snapshots: []wire.Snapshot{{TimeMS: 1000, IDs: []uint32{1}, Values: []float64{12.5}}}}
	for _, ws := range agents[:maxBatchWork] {
		send(t, ws, batch)
	}
	for range maxBatchWork {
		<-in.started
	}
	send(t, agents[maxBatchWork], batch)
	time.Sleep(hold)
	close(in.release)
	for _, ws := range agents {
		if a := recv[wire.Ack](t, ws); a.Seq != 1 {
			t.Fatalf("ack of seq %d, want 1", a.Seq)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "esmon_batch_ack_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		if h.GetSampleCount() != maxBatchWork+1 {
			t.Fatalf("%d acks observed, want %d", h.GetSampleCount(), maxBatchWork+1)
		}
		for _, b := range h.GetBucket() {
			if b.GetUpperBound() <= 0.1 && b.GetCumulativeCount() > 0 {
				t.Errorf("%d of %d batches acked within %g s of arriving; every one waited %s", b.GetCumulativeCount(), maxBatchWork+1, b.GetUpperBound(), hold)
			}
		}
		return
	}
	t.Fatal("no esmon_batch_ack_seconds")
}
