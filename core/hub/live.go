package hub

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"esmon/core/apiv1"
)

// CloseTooSlow is sent to a live subscriber whose queue overflowed; the page
// reconnects and gets a fresh snapshot.
const CloseTooSlow = 4008

// CloseSignedOut ends a live connection whose session or token ended
// (sign-out, a disabled or demoted user, a revoked token); the page goes
// back to its sign-in form.
const CloseSignedOut = 4401

// validityCheck is how often an open live connection asks whether the
// credential it was opened with still stands.
const validityCheck = time.Second

type validityKey struct{}

// WithValidity returns a context that tells ServeHTTP how to ask whether
// the credential that opened a live connection still stands. The
// connection closes with CloseSignedOut within a second of it failing.
func WithValidity(ctx context.Context, valid func() bool) context.Context {
	return context.WithValue(ctx, validityKey{}, valid)
}

// Live fans events out to subscribers: /ws/live pages and in-process
// consumers such as the console. One goroutine (run) owns the subscriber set;
// Publish never blocks, and a subscriber that falls behind is dropped.
type Live struct {
	snapshot func() apiv1.Event
	log      *slog.Logger
	up       websocket.Upgrader
	queueLen int

	events     chan apiv1.Event
	register   chan *subscriber
	unregister chan *subscriber
	stop       chan struct{}
	stopped    chan struct{}
	wg         sync.WaitGroup // /ws/live connections

	subscribers prometheus.Gauge
	dropped     *prometheus.CounterVec // what: event, subscriber
}

type subscriber struct {
	events chan apiv1.Event // in-process subscribers
	frames chan []byte      // WebSocket subscribers
}

// NewLive starts the fan-out. snapshot builds the first event every new
// subscriber gets; it is called on the fan-out goroutine so no event
// published after it is missed.
func NewLive(snapshot func() apiv1.Event, reg prometheus.Registerer, log *slog.Logger) *Live {
	l := &Live{
		snapshot: snapshot, log: log, queueLen: 256,
		events:     make(chan apiv1.Event, 4096),
		register:   make(chan *subscriber),
		unregister: make(chan *subscriber),
		stop:       make(chan struct{}),
		stopped:    make(chan struct{}),
		subscribers: prometheus.NewGauge(prometheus.GaugeOpts{Name: "esmon_live_subscribers",
			Help: "Live feed subscribers: web pages and consoles."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esmon_live_dropped_total",
			Help: "Live events dropped because the feed was full, and subscribers dropped for being too slow."}, []string{"what"}),
	}
	l.dropped.WithLabelValues("event")
	l.dropped.WithLabelValues("subscriber")
	queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "esmon_live_queued_events",
		Help: "Live events published and waiting to be fanned out to the subscribers."},
		func() float64 { return float64(len(l.events)) })
	if reg != nil {
		reg.MustRegister(l.subscribers, l.dropped, queued)
	}
	go l.run()
	return l
}

// Publish queues an event for every subscriber without blocking.
func (l *Live) Publish(ev apiv1.Event) {
	select {
	case l.events <- ev:
	default:
		l.dropped.WithLabelValues("event").Inc()
	}
}

// Subscribe returns a channel of events, starting with a snapshot, and a
// function that ends the subscription. The channel is closed when the
// subscription ends, also when the subscriber fell too far behind; a consumer
// that sees it closed subscribes again to get a fresh snapshot.
func (l *Live) Subscribe() (<-chan apiv1.Event, func()) {
	s := &subscriber{events: make(chan apiv1.Event, 1024)}
	select {
	case l.register <- s:
	case <-l.stopped:
		close(s.events)
		return s.events, func() {}
	}
	var once sync.Once
	return s.events, func() {
		once.Do(func() {
			select {
			case l.unregister <- s:
			case <-l.stopped:
			}
		})
	}
}

// Close ends the fan-out and every subscription.
func (l *Live) Close() {
	close(l.stop)
	<-l.stopped
	l.wg.Wait()
}

func (l *Live) run() {
	subs := make(map[*subscriber]struct{})
	drop := func(s *subscriber) {
		if _, ok := subs[s]; !ok {
			return
		}
		delete(subs, s)
		if s.events != nil {
			close(s.events)
		} else {
			close(s.frames)
		}
		l.subscribers.Set(float64(len(subs)))
	}
	defer func() {
		for s := range subs {
			drop(s)
		}
		close(l.stopped)
	}()
	for {
		select {
		case s := <-l.register:
			subs[s] = struct{}{}
			l.subscribers.Set(float64(len(subs)))
			l.deliver(s, l.snapshot(), nil, drop)
		case s := <-l.unregister:
			drop(s)
		case ev := <-l.events:
			var frame []byte // encoded once, shared by every page
			for s := range subs {
				if s.frames != nil && frame == nil {
					var err error
					if frame, err = json.Marshal(ev); err != nil {
						l.log.Error("encode live event", "err", err)
						break
					}
				}
				l.deliver(s, ev, frame, drop)
			}
		case <-l.stop:
			return
		}
	}
}

func (l *Live) deliver(s *subscriber, ev apiv1.Event, frame []byte, drop func(*subscriber)) {
	if s.frames != nil && frame == nil {
		var err error
		if frame, err = json.Marshal(ev); err != nil {
			l.log.Error("encode live event", "err", err)
			return
		}
	}
	var ok bool
	if s.events != nil {
		select {
		case s.events <- ev:
			ok = true
		default:
		}
	} else {
		select {
		case s.frames <- frame:
			ok = true
		default:
		}
	}
	if !ok {
		l.dropped.WithLabelValues("subscriber").Inc()
		drop(s)
	}
}

// ServeHTTP upgrades an authenticated request to a /ws/live connection. The
// caller checks authentication; the upgrader checks that Origin matches Host.
func (l *Live) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := l.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s := &subscriber{frames: make(chan []byte, l.queueLen)}
	select {
	case l.register <- s:
	case <-l.stopped:
		ws.Close()
		return
	}
	l.wg.Add(1)
	defer l.wg.Done()
	// Reader: pages send nothing but control frames; reading handles pongs
	// and notices the close.
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		ws.SetReadLimit(512)
		ws.SetReadDeadline(time.Now().Add(pongWait))
		ws.SetPongHandler(func(string) error { return ws.SetReadDeadline(time.Now().Add(pongWait)) })
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	ping := time.NewTicker(pingPeriod)
	defer ping.Stop()
	valid, _ := r.Context().Value(validityKey{}).(func() bool)
	var check <-chan time.Time
	if valid != nil {
		t := time.NewTicker(validityCheck)
		defer t.Stop()
		check = t.C
	}
	defer func() {
		select {
		case l.unregister <- s:
		case <-l.stopped:
		}
		ws.Close()
		<-readDone
	}()
	for {
		select {
		case f, ok := <-s.frames:
			if !ok {
				msg := websocket.FormatCloseMessage(CloseTooSlow, "too slow; reconnect for a fresh snapshot")
				select {
				case <-l.stop:
					msg = websocket.FormatCloseMessage(websocket.CloseGoingAway, "core shutting down")
				default:
				}
				ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(writeWait))
				return
			}
			ws.SetWriteDeadline(time.Now().Add(writeWait))
			if err := ws.WriteMessage(websocket.TextMessage, f); err != nil {
				return
			}
		case <-ping.C:
			if err := ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
				return
			}
		case <-check:
			if !valid() {
				msg := websocket.FormatCloseMessage(CloseSignedOut, "signed out")
				ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(writeWait))
				return
			}
		case <-readDone:
			return
		}
	}
}
