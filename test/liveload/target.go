package main

import (
	"bufio"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"esmon/agentsvc/link"
)

// target is the core under load: how to reach its live feed and metrics.
type target struct {
	base   *url.URL
	token  string
	client *http.Client
	dialer *websocket.Dialer
}

func newTarget(core, token, pin, caFile string) (*target, error) {
	u, err := url.Parse(strings.TrimRight(core, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--core %q: want http://host:port or https://host:port", core)
	}
	// The same check an agent makes: the pinned key, or the CAs.
	tlsConf, err := link.TLSConfig(pin, caFile)
	if err != nil {
		return nil, err
	}
	return &target{
		base:   u,
		token:  token,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf}},
		dialer: &websocket.Dialer{TLSClientConfig: tlsConf, HandshakeTimeout: 10 * time.Second,
			ReadBufferSize: 16 << 10, WriteBufferSize: 512},
	}, nil
}

// liveURL is the core's /ws/live address.
func (t *target) liveURL() string {
	u := *t.base
	u.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	u.Path += "/ws/live"
	return u.String()
}

func (t *target) header() http.Header {
	return http.Header{"Authorization": {"Bearer " + t.token}}
}

// metrics reads unlabelled samples from the core's /metrics, in the order
// of names.
func (t *target) metrics(names ...string) ([]float64, error) {
	req, err := http.NewRequest("GET", t.base.String()+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header = t.header()
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read core metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read core metrics: %s", resp.Status)
	}
	out := make([]float64, len(names))
	found := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		for i, name := range names {
			if rest, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
				if out[i], err = strconv.ParseFloat(strings.TrimSpace(rest), 64); err != nil {
					return nil, fmt.Errorf("core metric %s: %w", name, err)
				}
				found++
			}
		}
	}
	if found < len(names) {
		return nil, fmt.Errorf("core metrics lack one of %v", names)
	}
	return out, nil
}
