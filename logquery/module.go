package logquery

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/insights"
	"github.com/flowlens/flowlens/internal/httpjson"
	"github.com/flowlens/flowlens/internal/promset"
	"github.com/flowlens/flowlens/module"
)

// Config tunes the query module.
type Config struct {
	// Timeout bounds one query, DuckDB's planning included (Logs
	// Insights: 60 minutes; a local DuckDB answers in seconds, so a
	// runaway query is stopped sooner).
	Timeout time.Duration
	// MaxConcurrent queries run at once, from the API and the web UI
	// together; more wait (up to Timeout).
	MaxConcurrent int
	// DefaultRange is the range of a request without start.
	DefaultRange time.Duration
}

// DefaultConfig is the module's configuration unless flags say otherwise.
func DefaultConfig() Config {
	return Config{Timeout: 5 * time.Minute, MaxConcurrent: 4, DefaultRange: time.Hour}
}

// Dependencies are what the module uses of the server.
type Dependencies struct {
	Log      *slog.Logger
	Registry prometheus.Registerer
	// DB is the database the queries run on (the flow-log tables and the
	// agents' flows).
	DB Database
}

// Database is the SQL database the sources' tables are in (the server's
// store.ComponentDB satisfies it).
type Database interface{ DB() *sql.DB }

var _ module.Module = (*Module)(nil)

// Module serves POST /api/v1/query.
type Module struct {
	cfg     Config
	log     *slog.Logger
	deps    Dependencies
	engine  *Engine
	reg     prometheus.Registerer
	metrics promset.Set
	queries *prometheus.CounterVec
	seconds prometheus.Histogram
	scanned prometheus.Counter
}

// New builds the module; it does nothing until Start. The tables behind
// sources are their owners' to create (the flow store, the flow-log
// module).
func New(cfg Config, sources *Sources, d Dependencies) (*Module, error) {
	def := DefaultConfig()
	if cfg.Timeout <= 0 {
		cfg.Timeout = def.Timeout
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = def.MaxConcurrent
	}
	if cfg.DefaultRange <= 0 {
		cfg.DefaultRange = def.DefaultRange
	}
	if d.DB == nil {
		return nil, errors.New("logquery needs the embedded store")
	}
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	engine := NewEngineWith(d.DB.DB(), sources, EngineConfig{Timeout: cfg.Timeout, MaxConcurrent: cfg.MaxConcurrent})
	m := &Module{cfg: cfg, log: log, deps: d, engine: engine, reg: d.Registry}
	m.queries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowlens_logquery_queries_total",
		Help: "API log queries by result: ok, syntax_error (bad query), too_large (refused by a size limit), bad_request, busy (no free slot), timeout, canceled (client gone), error."}, []string{"result"})
	m.seconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "flowlens_logquery_query_seconds",
		Help: "Time to answer a log query.", Buckets: prometheus.ExponentialBuckets(0.005, 3, 10)})
	m.scanned = prometheus.NewCounter(prometheus.CounterOpts{Name: "flowlens_logquery_records_scanned_total",
		Help: "Records in the time range and log groups of answered queries."})
	running := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "flowlens_logquery_running",
		Help: "Log queries (API and web UI) holding a slot, until DuckDB has stopped working on them."},
		func() float64 { return float64(engine.Running()) })
	busy := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "flowlens_logquery_busy_total",
		Help: "Log queries (API and web UI) refused because every slot (--query-max-concurrent) stayed taken."},
		func() float64 { return float64(engine.Busy()) })
	abandoned := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "flowlens_logquery_abandoned_total",
		Help: "Log queries answered by their timeout or their client's departure while DuckDB still worked on them (they keep their slot until it stops)."},
		func() float64 { return float64(engine.Abandoned()) })
	m.metrics = promset.Set{m.queries, m.seconds, m.scanned, running, busy, abandoned}
	return m, nil
}

// Start registers the metrics.
func (m *Module) Start(context.Context) error { return m.metrics.Register(m.reg) }

// Stop unregisters the metrics.
func (m *Module) Stop(context.Context) error {
	m.metrics.Unregister(m.reg)
	return nil
}

// Engine is the module's query engine, for other modules (the web UI).
func (m *Module) Engine() *Engine { return m.engine }

// Routes mounts the query endpoint.
func (m *Module) Routes(mux *http.ServeMux, protect func(http.Handler) http.Handler) {
	mux.Handle("POST /api/v1/query", protect(http.HandlerFunc(m.handleQuery)))
}

// APIRequest is the body of POST /api/v1/query. Start and end are RFC
// 3339 strings or Unix seconds (numbers or strings); end defaults to now,
// start to end minus one hour.
type APIRequest struct {
	Query     string          `json:"query"`
	LogGroups []string        `json:"log_groups"`
	Start     json.RawMessage `json:"start,omitempty"`
	End       json.RawMessage `json:"end,omitempty"`
}

// APIError is the body of an error answer; line and column are set for
// errors in the query text.
type APIError struct {
	Error  string `json:"error"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
}

const maxBody = 1 << 20

func (m *Module) handleQuery(w http.ResponseWriter, r *http.Request) {
	var req APIRequest
	body := http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		m.fail(w, "bad_request", http.StatusBadRequest, APIError{Error: "bad request body: " + err.Error()})
		return
	}
	// Reading the body to its end lets the server watch the connection,
	// so that r.Context() ends when the client goes away.
	io.Copy(io.Discard, body) //nolint:errcheck // bounded by maxBody
	qr, err := m.request(req, time.Now())
	if err != nil {
		m.fail(w, "bad_request", http.StatusBadRequest, APIError{Error: err.Error()})
		return
	}
	began := time.Now()
	// The request's context ends when the client goes away: the engine
	// then answers at once and DuckDB's execution is interrupted.
	res, err := m.engine.Run(r.Context(), qr)
	m.seconds.Observe(time.Since(began).Seconds())
	var qe *Error
	switch {
	case err == nil:
		m.queries.WithLabelValues("ok").Inc()
		m.scanned.Add(float64(res.Statistics.RecordsScanned))
		httpjson.WriteCompact(w, http.StatusOK, res)
	case errors.As(err, &qe):
		result := "syntax_error"
		if errors.Is(err, ErrQueryTooLarge) {
			result = "too_large"
		}
		m.fail(w, result, http.StatusBadRequest, APIError{Error: qe.Error(), Line: qe.Line, Column: qe.Column})
	case errors.Is(err, ErrBadRequest):
		m.fail(w, "bad_request", http.StatusBadRequest, APIError{Error: err.Error()})
	case errors.Is(err, ErrBusy):
		m.fail(w, "busy", http.StatusServiceUnavailable, APIError{Error: err.Error()})
	case errors.Is(err, ErrTimeout):
		m.fail(w, "timeout", http.StatusGatewayTimeout, APIError{Error: fmt.Sprintf("query stopped after %s (--query-timeout)", m.cfg.Timeout)})
	case errors.Is(err, context.Canceled):
		m.fail(w, "canceled", 499, APIError{Error: "the client went away"}) // nobody reads it
	default:
		m.log.Warn("log query failed", "err", err)
		m.fail(w, "error", http.StatusInternalServerError, APIError{Error: err.Error()})
	}
}

func (m *Module) fail(w http.ResponseWriter, result string, code int, e APIError) {
	m.queries.WithLabelValues(result).Inc()
	httpjson.WriteCompact(w, code, e)
}

// request validates an API request into an engine request.
func (m *Module) request(req APIRequest, now time.Time) (Request, error) {
	if strings.TrimSpace(req.Query) == "" {
		return Request{}, errors.New("query is empty")
	}
	if len(req.LogGroups) == 0 {
		if q, err := Parse(req.Query); err != nil || q.Source == nil {
			return Request{}, fmt.Errorf("log_groups is empty: name at least one log group (or %s), or start the query with SOURCE logGroups(namePrefix: [...])", FlowsGroup)
		}
	}
	end := now
	if len(req.End) > 0 {
		t, err := jsonTime(req.End)
		if err != nil {
			return Request{}, fmt.Errorf("end: %w", err)
		}
		end = t
	}
	start := end.Add(-m.cfg.DefaultRange)
	if len(req.Start) > 0 {
		t, err := jsonTime(req.Start)
		if err != nil {
			return Request{}, fmt.Errorf("start: %w", err)
		}
		start = t
	}
	if end.Before(start) {
		return Request{}, fmt.Errorf("end %s is before start %s", end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	return Request{Query: req.Query, Groups: req.LogGroups, Start: start, End: end}, nil
}

// jsonTime reads a number of Unix seconds or a string (RFC 3339 or Unix
// seconds).
func jsonTime(raw json.RawMessage) (time.Time, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			return time.Unix(i, 0), nil
		}
		return time.Time{}, fmt.Errorf("%s is not whole Unix seconds", n)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return time.Time{}, fmt.Errorf("%s is neither a string nor a number", raw)
	}
	return insights.ParseTime(s)
}
