// Package applogapi is the application-log feature inside flowlens
// server: POST /api/v1/logs/{group} with Content-Type text/plain (one
// event per line) or application/x-ndjson (one JSON object per line),
// reached through the flow-log module (which owns the route and hands
// these content types over), stored by a Store (store/duckdb/applogs),
// and handed to the metric filters after the commit.
package applogapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/applog"
	"github.com/flowlens/flowlens/flowlog"
	"github.com/flowlens/flowlens/internal/httpjson"
	"github.com/flowlens/flowlens/internal/promset"
	"github.com/flowlens/flowlens/store"
)

// Writer is one transaction of the store adding events to a group.
type Writer interface {
	Write(ctx context.Context, b *applog.Batch) error
	Commit() error
	Rollback()
}

// Store keeps the events (store/duckdb/applogs.Store).
type Store interface {
	Begin(ctx context.Context, group string, ingestionMs int64) (Writer, error)
	Close() error
}

// OpenStore opens the store in the server's database (Start calls it).
type OpenStore func(ctx context.Context, db store.ComponentDB, log *slog.Logger) (Store, error)

// Ingester sees every stored event (the metric-filter module):
// time in Unix seconds, the message as posted.
type Ingester interface {
	Ingested(group string, unixSec []int64, messages []string)
}

// Config bounds what one put may hold; zero values take defaults.
type Config struct {
	// MaxBodyBytes bounds a put's body as sent (default 1 GiB, as flow-log
	// uploads: --max-upload-bytes).
	MaxBodyBytes int64
	// MaxDecompressedBytes bounds what a gzip body expands to (default
	// 16 GiB: --max-upload-decompressed-bytes).
	MaxDecompressedBytes int64
	// MaxLineBytes bounds one event (default applog.DefaultMaxLineBytes).
	MaxLineBytes int
	// MaxErrors is how many refused lines an answer lists.
	MaxErrors int
}

func (c Config) withDefaults() Config {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 30
	}
	if c.MaxDecompressedBytes <= 0 {
		c.MaxDecompressedBytes = 16 << 30
	}
	if c.MaxLineBytes <= 0 {
		c.MaxLineBytes = applog.DefaultMaxLineBytes
	}
	if c.MaxErrors <= 0 {
		c.MaxErrors = applog.DefaultMaxErrors
	}
	return c
}

// Dependencies are what the module uses.
type Dependencies struct {
	Log       *slog.Logger
	Registry  prometheus.Registerer
	DB        store.ComponentDB
	OpenStore OpenStore
	// Ingester sees every stored event; nil: nobody.
	Ingester Ingester
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
}

// Module stores application log events.
type Module struct {
	cfg     Config
	deps    Dependencies
	log     *slog.Logger
	st      Store
	events  prometheus.Counter
	refused *prometheus.CounterVec
	set     promset.Set
}

// New is inert: Start opens the store.
func New(cfg Config, d Dependencies) (*Module, error) {
	if d.OpenStore == nil || d.DB == nil {
		return nil, errors.New("application logs: no store")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	m := &Module{cfg: cfg.withDefaults(), deps: d, log: d.Log,
		events: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "flowlens", Subsystem: "applog", Name: "events_total",
			Help: "Application log events stored."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "flowlens", Subsystem: "applog", Name: "refused_total",
			Help: "Application log input refused: line (a bad line: too long, not JSON in x-ndjson, a future timestamp), too_large (a body beyond --max-upload-bytes or --max-upload-decompressed-bytes)."}, []string{"reason"}),
	}
	m.set = promset.Set{m.events, m.refused}
	return m, nil
}

// Start opens the store and registers the counters.
func (m *Module) Start(ctx context.Context) error {
	st, err := m.deps.OpenStore(ctx, m.deps.DB, m.log)
	if err != nil {
		return err
	}
	if err := m.set.Register(m.deps.Registry); err != nil {
		st.Close()
		return fmt.Errorf("application log metrics: %w", err)
	}
	m.st = st
	return nil
}

// Stop closes the store.
func (m *Module) Stop(context.Context) error {
	if m.st == nil {
		return nil
	}
	m.set.Unregister(m.deps.Registry)
	err := m.st.Close()
	m.st = nil
	return err
}

// Routes mounts nothing: the flow-log module owns POST
// /api/v1/logs/{group} and hands text bodies to Handles/ServeHTTP.
func (m *Module) Routes(*http.ServeMux, func(http.Handler) http.Handler) {}

// Handles says whether a request to POST /api/v1/logs/{group} is an
// application-log put: Content-Type text/plain or application/x-ndjson
// (also application/jsonl). Flow-log uploads send
// application/octet-stream or nothing.
func (m *Module) Handles(r *http.Request) bool {
	_, ok := contentKind(r)
	return ok
}

func contentKind(r *http.Request) (jsonLines bool, ok bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return false, false
	}
	switch mt {
	case "text/plain":
		return false, true
	case "application/x-ndjson", "application/jsonl", "application/json-lines":
		return true, true
	}
	return false, false
}

// ServeHTTP stores the body's lines in the group: 200 with the summary
// (events, refused lines with their line number and reason); 400 for a
// bad group name, 413 beyond the size limits, 415 for an encoding other
// than gzip, 500 when the store fails (nothing stored).
func (m *Module) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	group := r.PathValue("group")
	if err := flowlog.CheckGroup(group); err != nil {
		httpjson.ErrorCode(w, http.StatusBadRequest, err)
		return
	}
	if m.st == nil {
		httpjson.ErrorCode(w, http.StatusServiceUnavailable, errors.New("application logs not started"))
		return
	}
	jsonLines, _ := contentKind(r)
	body := io.Reader(http.MaxBytesReader(w, r.Body, m.cfg.MaxBodyBytes))
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			httpjson.ErrorCode(w, http.StatusBadRequest, fmt.Errorf("gzip body: %w", err))
			return
		}
		body = &limitReader{r: zr, left: m.cfg.MaxDecompressedBytes}
	default:
		httpjson.ErrorCode(w, http.StatusUnsupportedMediaType, fmt.Errorf("Content-Encoding %q: only gzip is accepted", enc))
		return
	}
	sum, err := m.Put(r.Context(), group, body, jsonLines)
	if err != nil {
		code := http.StatusInternalServerError
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe), errors.Is(err, errTooLarge):
			code = http.StatusRequestEntityTooLarge
			m.refused.WithLabelValues("too_large").Inc()
		case errors.Is(err, errRead):
			code = http.StatusBadRequest
		}
		m.log.Warn("application log put failed", "group", group, "err", err)
		httpjson.ErrorCode(w, code, err)
		return
	}
	m.log.Info("application log put", "group", group, "events", sum.Events, "bad_lines", sum.BadLines, "ms", sum.DurationMs)
	httpjson.WriteCompact(w, http.StatusOK, sum)
}

var (
	errTooLarge = errors.New("decompressed body beyond --max-upload-decompressed-bytes")
	errRead     = errors.New("read body")
)

// limitReader fails (rather than stops) past its limit, so a gzip bomb is
// refused, not stored cut.
type limitReader struct {
	r    io.Reader
	left int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, errTooLarge
	}
	return n, err
}

// Put stores body's lines in group in one transaction (all or nothing)
// and hands the events to the Ingester after the commit.
func (m *Module) Put(ctx context.Context, group string, body io.Reader, jsonLines bool) (*applog.Summary, error) {
	began := m.deps.Now()
	ingest := began.UnixMilli()
	wr, err := m.st.Begin(ctx, group, ingest)
	if err != nil {
		return nil, err
	}
	sum := &applog.Summary{Group: group}
	// The metric filters see events only once they are stored.
	var secs [][]int64
	var msgs [][]string
	opt := applog.ReadOptions{Options: applog.Options{JSONLines: jsonLines, MaxLineBytes: m.cfg.MaxLineBytes, IngestionMs: ingest}, MaxErrors: m.cfg.MaxErrors}
	err = applog.Read(ctx, body, opt, sum, func(b *applog.Batch) error {
		if m.deps.Ingester != nil {
			s, t := handOff(b)
			secs, msgs = append(secs, s), append(msgs, t)
		}
		return wr.Write(ctx, b)
	})
	if err != nil {
		wr.Rollback()
		if !errors.Is(err, errTooLarge) && strings.HasPrefix(err.Error(), "read body") {
			return nil, fmt.Errorf("%w: %w", errRead, err)
		}
		return nil, err
	}
	if err := wr.Commit(); err != nil {
		return nil, err
	}
	m.events.Add(float64(sum.Events))
	m.refused.WithLabelValues("line").Add(float64(sum.BadLines))
	for i := range secs {
		m.deps.Ingester.Ingested(group, secs[i], msgs[i])
	}
	sum.DurationMs = m.deps.Now().Sub(began).Milliseconds()
	return sum, nil
}

// handOff copies a batch's times (as seconds) and messages for the
// metric filters (the batch's memory is reused).
func handOff(b *applog.Batch) ([]int64, []string) {
	secs := make([]int64, b.Len())
	msgs := make([]string, b.Len())
	for i := range secs {
		secs[i] = b.Times[i] / 1000
		msgs[i] = string(b.Message(i))
	}
	return secs, msgs
}
