package e2e

import (
	"bytes"
	"errors"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"esmon/core/apiv1"
	"esmon/core/wire"
)

// TestBadInput sends the core what a broken or hostile agent might, while a
// real agent keeps reporting. Each bad input gets a clear close reason (or a
// rejection count in the ack) and a counter in /metrics, and the good
// agent's data keep flowing.
func TestBadInput(t *testing.T) {
	c := startCore(t, "")
	startAgent(t, c)
	good := c.waitHost(t)
	wsURL := c.wsURL(wire.Path)
	badID, badCred := c.enrol(t, "bad-agent")

	dial := func(t *testing.T) *websocket.Conn {
		t.Helper()
		ws, _, err := c.wsDialer().Dial(wsURL, nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		t.Cleanup(func() { ws.Close() })
		return ws
	}
	hello := func(token string, version int) []byte {
		f, err := wire.Encode(&wire.Hello{Version: version, AgentID: badID, Token: token,
			Host: wire.HostFacts{Hostname: "bad-agent", OS: "linux"}})
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	// welcomed dials and completes the hello.
	welcomed := func(t *testing.T) *websocket.Conn {
		ws := dial(t)
		ws.WriteMessage(websocket.BinaryMessage, hello(badCred, wire.Version))
		_, f, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("read welcome: %v", err)
		}
		if m, err := wire.Decode(f); err != nil {
			t.Fatalf("welcome: %v", err)
		} else if _, ok := m.(*wire.Welcome); !ok {
			t.Fatalf("got %T, want welcome", m)
		}
		return ws
	}
	// closeOf reads until the connection ends and returns its close frame.
	closeOf := func(t *testing.T, ws *websocket.Conn) *websocket.CloseError {
		t.Helper()
		ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			_, _, err := ws.ReadMessage()
			if err == nil {
				continue
			}
			var ce *websocket.CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("connection ended without a close frame: %v", err)
			}
			return ce
		}
	}

	tests := []struct {
		name    string
		send    func(t *testing.T) *websocket.Conn
		code    int
		reason  string // part of the close reason
		counter string
	}{
		{"wrong token", func(t *testing.T) *websocket.Conn {
			ws := dial(t)
			ws.WriteMessage(websocket.BinaryMessage, hello("esm_agent_wrong", wire.Version))
			return ws
		}, 4001, "invalid agent token", `esmon_agent_connections_rejected_total{reason="token"}`},
		{"protocol version from the future", func(t *testing.T) *websocket.Conn {
			ws := dial(t)
			ws.WriteMessage(websocket.BinaryMessage, hello(badCred, wire.Version+1))
			return ws
		}, 4002, "not supported", `esmon_agent_connections_rejected_total{reason="version"}`},
		{"malformed frame", func(t *testing.T) *websocket.Conn {
			ws := welcomed(t)
			ws.WriteMessage(websocket.BinaryMessage, []byte{byte(wire.TypeBatch), 0xff, 0x00, 0x13})
			return ws
		}, 4003, "malformed", `esmon_agent_frames_invalid_total{reason="malformed"}`},
		{"text frame", func(t *testing.T) *websocket.Conn {
			ws := welcomed(t)
			ws.WriteMessage(websocket.TextMessage, []byte(`{"hello":1}`))
			return ws
		}, 4003, "binary", `esmon_agent_frames_invalid_total{reason="malformed"}`},
		{"unknown message type", func(t *testing.T) *websocket.Conn {
			ws := welcomed(t)
			ws.WriteMessage(websocket.BinaryMessage, []byte{99, 0xa0})
			return ws
		}, 4004, "unknown message type 99", `esmon_agent_frames_invalid_total{reason="unknown_type"}`},
		{"oversized frame", func(t *testing.T) *websocket.Conn {
			ws := welcomed(t)
			ws.WriteMessage(websocket.BinaryMessage, bytes.Repeat([]byte{byte(wire.TypeBatch)}, wire.MaxFrameBytes+1))
			return ws
		}, websocket.CloseMessageTooBig, "", `esmon_agent_frames_invalid_total{reason="oversize"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := c.metric(t, tc.counter)
			ce := closeOf(t, tc.send(t))
			if ce.Code != tc.code || !strings.Contains(ce.Text, tc.reason) {
				t.Fatalf("closed with %d %q, want %d containing %q", ce.Code, ce.Text, tc.code, tc.reason)
			}
			waitFor(t, 5*time.Second, tc.counter+" to count it", func() bool { return c.metric(t, tc.counter) == before+1 })
		})
	}

	t.Run("NaN and infinite values", func(t *testing.T) {
		before := c.metric(t, `esmon_samples_rejected_total{reason="non_finite"}`)
		ws := welcomed(t)
		now := time.Now().UnixMilli()
		f, _ := wire.Encode(&wire.Batch{Seq: 1,
			Defs:      []wire.SeriesDef{{ID: 1, Metric: "e2e_value"}},
			Snapshots: []wire.Snapshot{{TimeMS: now, IDs: []uint32{1, 1, 1}, Values: []float64{math.NaN(), math.Inf(1), 42}}}})
		ws.WriteMessage(websocket.BinaryMessage, f)
		ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("no ack: %v", err)
		}
		m, err := wire.Decode(b)
		ack, ok := m.(*wire.Ack)
		if err != nil || !ok || ack.Seq != 1 || ack.Rejected != 2 || !strings.Contains(ack.Reason, "non-finite") {
			t.Fatalf("ack = %+v, %v", m, err)
		}
		if n := c.metric(t, `esmon_samples_rejected_total{reason="non_finite"}`); n != before+2 {
			t.Fatalf("non_finite counter = %v, want %v", n, before+2)
		}
		var q apiv1.QueryResult
		c.do(t, "GET", "/api/v1/query?"+url.Values{"host": {"bad-agent"}, "metric": {"e2e_value"}, "from": {"-1m"}}.Encode(), nil, &q)
		if len(q.Series) != 1 || len(q.Series[0].Points) != 1 || q.Series[0].Points[0].V != 42 {
			t.Fatalf("the good value of the batch: %+v", q)
		}
	})

	// Meanwhile the real agent kept reporting.
	var now apiv1.Host
	waitFor(t, 10*time.Second, "the good agent's data to keep flowing", func() bool {
		c.do(t, "GET", "/api/v1/hosts/"+good.ID, nil, &now)
		return now.Online && now.LastSeen.After(good.LastSeen)
	})
	// The core notices the bad connections' ends on its own goroutines.
	waitFor(t, 10*time.Second, "the good agent's connection alone to remain", func() bool {
		return c.metric(t, "esmon_agent_connections") == 1
	})
}
