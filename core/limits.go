package core

import (
	"net/http"
	"time"
)

// HTTPLimits bound what one HTTP client may hold of the core, against slow
// or stuck clients (slowloris): a client that trickles its request headers
// or body is cut off, and an idle keep-alive connection is closed. The zero
// value takes the defaults. WebSocket connections are not bound by them
// once upgraded; they keep their own deadlines and pings.
type HTTPLimits struct {
	// ReadHeaderTimeout is how long a client may take to send its request
	// headers. Default 10s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout is how long a client may take to send a whole request,
	// body included (a 16 MiB rule import over a slow link fits). Default 60s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing one answer. Default 60s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout is how long a keep-alive connection may wait for its
	// next request. Default 2m.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxHeaderBytes bounds the request line and headers. Default 64 KiB.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
}

func (l HTTPLimits) withDefaults() HTTPLimits {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&l.ReadHeaderTimeout, 10*time.Second)
	def(&l.ReadTimeout, time.Minute)
	def(&l.WriteTimeout, time.Minute)
	def(&l.IdleTimeout, 2*time.Minute)
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = 64 << 10
	}
	return l
}

// apply sets the limits on srv.
func (l HTTPLimits) apply(srv *http.Server) {
	l = l.withDefaults()
	srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout = l.ReadHeaderTimeout, l.ReadTimeout, l.WriteTimeout
	srv.IdleTimeout, srv.MaxHeaderBytes = l.IdleTimeout, l.MaxHeaderBytes
}
