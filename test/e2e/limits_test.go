package e2e

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"esmon/core/apiv1"
	"esmon/core/wire"
)

// badAgent is a hand-made agent connection that has passed its hello as
// host, for sending what a real agent never would.
func badAgent(t *testing.T, c *coreProc, host string) *websocket.Conn {
	t.Helper()
	id, cred := c.enrol(t, host)
	ws, _, err := c.wsDialer().Dial(c.wsURL(wire.Path), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { ws.Close() })
	f, err := wire.Encode(&wire.Hello{Version: wire.Version, AgentID: id, Token: cred,
		Host: wire.HostFacts{Hostname: host, OS: "linux"}})
	if err != nil {
		t.Fatal(err)
	}
	ws.WriteMessage(websocket.BinaryMessage, f)
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, b, err := ws.ReadMessage(); err != nil {
		t.Fatalf("read welcome: %v", err)
	} else if m, err := wire.Decode(b); err != nil {
		t.Fatalf("welcome: %v", err)
	} else if _, ok := m.(*wire.Welcome); !ok {
		t.Fatalf("got %T, want welcome", m)
	}
	return ws
}

// closeCodeOf reads until the connection ends and returns the close code
// the core sent, or -1 when the connection was cut without one.
func closeCodeOf(ws *websocket.Conn) (int, string) {
	ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Text
		}
		return -1, err.Error()
	}
}

// goodAgentFlows waits until the real agent's host has reported again
// since before, and its batches keep being acknowledged.
func goodAgentFlows(t *testing.T, c *coreProc, before apiv1.Host) {
	t.Helper()
	batches := c.metric(t, "esmon_agent_batches_total")
	waitFor(t, 20*time.Second, "the good agent's data to keep flowing", func() bool {
		var now apiv1.Host
		c.do(t, "GET", "/api/v1/hosts/"+before.ID, nil, &now)
		return now.Online && now.LastSeen.After(before.LastSeen) && c.metric(t, "esmon_agent_batches_total") > batches
	})
}

// TestHugeFrame: a frame that announces 100 MB is refused with close 1009
// before the core reads (or allocates) it, and counted; so is one that is
// really sent; the real agent beside it is not disturbed.
func TestHugeFrame(t *testing.T) {
	c := startCore(t, "")
	startAgent(t, c)
	good := c.waitHost(t)
	const hundredMB = 100 << 20
	tests := []struct {
		name string
		send func(ws *websocket.Conn)
		// cut allows the core to reset the connection instead of closing
		// it cleanly: it hangs up while the frame is still arriving.
		cut bool
	}{
		{"header announcing 100 MB", func(ws *websocket.Conn) {
			// A masked binary frame header with a 64-bit length; the core
			// must refuse it on the header alone.
			h := []byte{0x82, 0x80 | 127}
			h = binary.BigEndian.AppendUint64(h, hundredMB)
			h = append(h, 1, 2, 3, 4) // masking key
			ws.UnderlyingConn().Write(h)
		}, false},
		{"100 MB really sent", func(ws *websocket.Conn) {
			big := make([]byte, hundredMB)
			big[0] = byte(wire.TypeBatch)
			go ws.WriteMessage(websocket.BinaryMessage, big) // fails once the core hangs up
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := c.metric(t, `esmon_agent_frames_invalid_total{reason="oversize"}`)
			ws := badAgent(t, c, "huge-frame")
			tc.send(ws)
			code, text := closeCodeOf(ws)
			if code != websocket.CloseMessageTooBig && !(tc.cut && code == -1) {
				t.Fatalf("closed with %d %q, want %d", code, text, websocket.CloseMessageTooBig)
			}
			waitFor(t, 10*time.Second, "the oversize frame to be counted", func() bool {
				return c.metric(t, `esmon_agent_frames_invalid_total{reason="oversize"}`) == before+1
			})
		})
	}
	goodAgentFlows(t, c, good)
}

// TestCardinalityBomb: one agent defines a million series. Past its host's
// series limit every sample of a new series is refused, with the reason in
// the ack and counts in /metrics; the store does not take them in, and the
// real agent's batches keep being acknowledged and stored.
func TestCardinalityBomb(t *testing.T) {
	const limit = 20_000
	c := startCore(t, fmt.Sprintf("agent_limits:\n  max_series_per_host: %d\n  max_samples_per_second: 10000000\n", limit))
	startAgent(t, c)
	good := c.waitHost(t)
	seriesBefore := c.metric(t, "esmon_store_series")
	ws := badAgent(t, c, "bomb")
	const perBatch, total = 25_000, 1_000_000
	rejected := 0
	for seq := uint64(1); seq <= total/perBatch; seq++ {
		b := &wire.Batch{Seq: seq}
		snap := wire.Snapshot{TimeMS: time.Now().UnixMilli()}
		for i := range perBatch {
			id := uint32(int(seq-1)*perBatch + i + 1)
			b.Defs = append(b.Defs, wire.SeriesDef{ID: id, Metric: "bomb_requests_total",
				Labels: []wire.Label{{Name: "request_id", Value: fmt.Sprint(id)}}})
			snap.IDs = append(snap.IDs, id)
			snap.Values = append(snap.Values, 1)
		}
		b.Snapshots = []wire.Snapshot{snap}
		f, err := wire.Encode(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := ws.WriteMessage(websocket.BinaryMessage, f); err != nil {
			t.Fatalf("batch %d: %v", seq, err)
		}
		ws.SetReadDeadline(time.Now().Add(60 * time.Second))
		_, ab, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("batch %d: no ack: %v", seq, err)
		}
		m, err := wire.Decode(ab)
		ack, ok := m.(*wire.Ack)
		if err != nil || !ok || ack.Seq != seq {
			t.Fatalf("batch %d: got %+v, %v", seq, m, err)
		}
		rejected += ack.Rejected
		if ack.Rejected > 0 && !strings.Contains(ack.Reason, "max_series_per_host") {
			t.Fatalf("batch %d: reason %q does not name the limit", seq, ack.Reason)
		}
	}
	if want := total - limit; rejected != want {
		t.Errorf("%d samples rejected, want %d", rejected, want)
	}
	if n := c.metric(t, `esmon_samples_rejected_total{reason="series_limit"}`); n != total-limit {
		t.Errorf("series_limit counter %v, want %d", n, total-limit)
	}
	if n := c.metric(t, "esmon_agent_series_refused_total"); n != total-limit {
		t.Errorf("refused series counter %v, want %d", n, total-limit)
	}
	if n := c.metric(t, "esmon_store_series") - seriesBefore; n > limit+1000 {
		t.Errorf("the store grew by %v series, want at most the limit %d and the good agent's few", n, limit)
	}
	goodAgentFlows(t, c, good)
}

// TestSlowClient: a client that never starts TLS, or trickles its request
// headers, or its body, is cut off after the core's timeout while other
// clients are served.
func TestSlowClient(t *testing.T) {
	c := startCore(t, "http:\n  read_header_timeout: 1s\n  read_timeout: 2s\n")
	served := func(t *testing.T) {
		t.Helper()
		resp, err := c.client.Get(c.url + "/healthz")
		if err != nil {
			t.Fatalf("another client: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("another client: %s", resp.Status)
		}
	}
	tests := []struct {
		name    string
		tls     bool   // complete the TLS handshake first
		head    string // sent at once
		trickle string // then one byte of it every 200ms
	}{
		{"says nothing, not even TLS", false, "", strings.Repeat(" ", 100)},
		{"headers never end", true, "GET /healthz HTTP/1.1\r\nHost: core\r\n", strings.Repeat("X-Slow: y\r\n", 100)},
		{"body never ends", true, "POST /api/v1/session HTTP/1.1\r\nHost: core\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n", strings.Repeat(" ", 1000)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := net.Dial("tcp", c.addr())
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			conn := raw
			if tc.tls {
				tc := tls.Client(raw, c.wsDialer().TLSClientConfig.Clone())
				if err := tc.Handshake(); err != nil {
					t.Fatalf("TLS handshake: %v", err)
				}
				conn = tc
			}
			if _, err := io.WriteString(conn, tc.head); err != nil {
				t.Fatal(err)
			}
			ended := make(chan error, 1)
			go func() {
				_, err := io.Copy(io.Discard, conn)
				ended <- err
			}()
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-ended:
					served(t) // cut off, and the core still serves others
					return
				case <-tick.C:
					if i >= len(tc.trickle) {
						t.Fatalf("still connected after trickling %d bytes over %v", i, time.Duration(i)*200*time.Millisecond)
					}
					if i%5 == 0 {
						served(t) // others are served while the slow client holds on
					}
					if tc.head == "" && !tc.tls {
						continue // the silent client stays silent
					}
					conn.Write([]byte{tc.trickle[i]})
				}
			}
		})
	}
}
