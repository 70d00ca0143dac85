package hub

import (
	"context"
	"fmt"
	"testing"

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
