package server

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Limits bound what one client can hold of the server: connections, and
// how long it may take to send a request body or to take an answer.
type Limits struct {
	// MaxConnections is how many connections are served at once; beyond
	// it a new connection is closed as soon as it is accepted. Every
	// agent keeps one open (it reports every 30 s, within the idle
	// timeout), so this must exceed the fleet. Default 10,000 (~20 KB
	// of memory each when idle).
	MaxConnections int
	// BodyTimeout is how long a request body may take to arrive, from
	// the moment its handler starts. Handlers that take large bodies
	// (flow-log uploads) set their own deadlines instead. Default 30 s.
	BodyTimeout time.Duration
	// WriteStall is how long writing an answer may make no progress
	// before the connection is closed. It is counted from each write, so
	// long queries and long answers still work. Default 60 s.
	WriteStall time.Duration
}

// Defaults for Limits, and the timeouts that need no flag.
const (
	DefaultMaxConnections = 10000
	DefaultBodyTimeout    = 30 * time.Second
	DefaultWriteStall     = 60 * time.Second
	// readHeaderTimeout bounds the request line and headers.
	readHeaderTimeout = 10 * time.Second
	// idleTimeout closes a kept-alive connection that sends nothing.
	idleTimeout = 2 * time.Minute
)

func (l Limits) withDefaults() Limits {
	if l.MaxConnections <= 0 {
		l.MaxConnections = DefaultMaxConnections
	}
	if l.BodyTimeout <= 0 {
		l.BodyTimeout = DefaultBodyTimeout
	}
	if l.WriteStall <= 0 {
		l.WriteStall = DefaultWriteStall
	}
	return l
}

// limiter applies Limits to a listener and to every handler.
type limiter struct {
	cfg          Limits
	log          *slog.Logger
	lastWarn     atomic.Int64 // Unix seconds of the last "connections refused" warning
	open         prometheus.Gauge
	refused      prometheus.Counter
	bodyTimeouts prometheus.Counter
}

func newLimiter(cfg Limits, reg prometheus.Registerer, log *slog.Logger) *limiter {
	l := &limiter{
		cfg: cfg.withDefaults(),
		log: log,
		open: prometheus.NewGauge(prometheus.GaugeOpts{Name: "flowlens_http_connections_open",
			Help: "HTTP connections being served."}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowlens_http_connections_refused_total",
			Help: "HTTP connections closed on arrival because --max-connections were open."}),
		bodyTimeouts: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowlens_http_body_timeouts_total",
			Help: "Requests whose body did not arrive in time (--request-body-timeout, or an upload's minimum rate)."}),
	}
	reg.MustRegister(l.open, l.refused, l.bodyTimeouts)
	return l
}

// listener serves at most MaxConnections connections at once. Further
// ones are accepted and closed at once rather than left waiting in the
// kernel's queue, so that a client learns right away and the count of
// refusals is known.
func (l *limiter) listener(inner net.Listener) net.Listener {
	return &limitListener{Listener: inner, l: l, slots: make(chan struct{}, l.cfg.MaxConnections)}
}

type limitListener struct {
	net.Listener
	l     *limiter
	slots chan struct{}
}

func (ll *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case ll.slots <- struct{}{}:
			ll.l.open.Inc()
			return &limitedConn{Conn: c, release: func() { <-ll.slots; ll.l.open.Dec() }}, nil
		default:
			ll.l.refused.Inc()
			c.Close()
			ll.l.warnRefused()
		}
	}
}

// warnRefused logs refused connections at most once a minute (the
// counter has them all).
func (l *limiter) warnRefused() {
	now, last := time.Now().Unix(), l.lastWarn.Load()
	if now-last >= 60 && l.lastWarn.CompareAndSwap(last, now) {
		l.log.Warn("connections refused: --max-connections are open (every agent keeps one)", "max_connections", l.cfg.MaxConnections)
	}
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// wrap gives every request a body deadline and every answer a stall
// deadline. A body the handler leaves unread (a request refused without
// a token, say) is not waited for: the answer goes out and the connection
// is closed, so a client trickling a body cannot hold it.
func (l *limiter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		// A kept-alive connection carries the previous answer's deadline.
		rc.SetWriteDeadline(time.Time{}) //nolint:errcheck // unsupported writers have no deadline to clear
		var body *deadlineBody
		if r.Body != nil && r.Body != http.NoBody {
			rc.SetReadDeadline(time.Now().Add(l.cfg.BodyTimeout)) //nolint:errcheck // as above
			body = &deadlineBody{ReadCloser: r.Body, rc: rc, timeouts: l.bodyTimeouts}
			r.Body = body
		}
		h.ServeHTTP(&stallWriter{ResponseWriter: w, rc: rc, stall: l.cfg.WriteStall}, r)
		if body != nil && !body.done() {
			rc.SetReadDeadline(time.Now()) //nolint:errcheck // as above
		}
	})
}

// deadlineBody clears the read deadline once the body has been read: the
// server then reads the connection in the background to notice a client
// that goes away, and a deadline passing there would cancel the request's
// context in the middle of a long handler.
type deadlineBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	timeouts prometheus.Counter
	mu       sync.Mutex
	eof      bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		b.mu.Lock()
		b.eof = true
		b.mu.Unlock()
		b.rc.SetReadDeadline(time.Time{}) //nolint:errcheck // unsupported writers have no deadline
	case errors.Is(err, os.ErrDeadlineExceeded):
		b.timeouts.Inc()
	}
	return n, err
}

func (b *deadlineBody) done() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.eof
}

// stallWriter pushes the write deadline back before every write, so that
// an answer may take as long as it needs while a client that stops
// reading it is cut off after WriteStall.
type stallWriter struct {
	http.ResponseWriter
	rc    *http.ResponseController
	stall time.Duration
}

func (w *stallWriter) Write(p []byte) (int, error) {
	w.rc.SetWriteDeadline(time.Now().Add(w.stall)) //nolint:errcheck // unsupported writers have no deadline
	return w.ResponseWriter.Write(p)
}

// Flush keeps http.Flusher working for handlers that stream.
func (w *stallWriter) Flush() {
	w.rc.SetWriteDeadline(time.Now().Add(w.stall)) //nolint:errcheck // as above
	w.rc.Flush()                                   //nolint:errcheck // as http.Flusher, which has no error
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *stallWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
