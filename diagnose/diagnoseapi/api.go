// Package diagnoseapi is the server module that explains REJECTs and
// unreachable paths from the AWS configuration the server was started
// with (flowlens server --aws-config DIR):
//
//	GET /api/v1/diagnose/rejects  a log group's REJECT records grouped by cause
//	GET /api/v1/diagnose/path     one request and its return traffic
//
// Both answer what `flowlens diagnose rejects|path --output json` prints:
// the rejects come from diagnose.RejectsFromLogs over the log query engine
// (the same two aggregated queries the CLI sends to the query API), the
// path from diagnose.Model.Analyze. The web UI uses the same Go API.
package diagnoseapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/diagnose"
	"github.com/flowlens/flowlens/diagnose/awsconfig"
	"github.com/flowlens/flowlens/insights"
	"github.com/flowlens/flowlens/internal/httpjson"
	"github.com/flowlens/flowlens/internal/promset"
	"github.com/flowlens/flowlens/logquery"
	"github.com/flowlens/flowlens/module"
)

// DefaultMaxRange is the longest time range a rejects request may cover.
const DefaultMaxRange = 31 * 24 * time.Hour

// DefaultRange is the range of a rejects request without since or start
// (the CLI's --since default).
const DefaultRange = time.Hour

// Config tunes the module.
type Config struct {
	// AWSConfigDir is the directory of AWS CLI JSON outputs loaded at
	// Start (see awsconfig.Load). Empty: no configuration; the API
	// answers 503 and the web page says how to give one.
	AWSConfigDir string
	// Limits bound the loading (zero fields: awsconfig.DefaultLimits).
	Limits awsconfig.Limits
	// MaxRange bounds a rejects request's time range (default
	// DefaultMaxRange).
	MaxRange time.Duration
	// Workers explain the rejected tuples of one request (0: GOMAXPROCS).
	Workers int
}

// QueryEngine runs log queries: the logquery module's engine, whose slots
// and timeout bound the diagnosis's queries as they bound every other.
type QueryEngine interface {
	Run(ctx context.Context, req logquery.Request) (*logquery.Result, error)
}

// Dependencies are what the module uses.
type Dependencies struct {
	Log      *slog.Logger
	Registry prometheus.Registerer
	Query    QueryEngine
}

// ErrNotConfigured: the server was started without --aws-config.
var ErrNotConfigured = errors.New("no AWS configuration: start the server with --aws-config DIR")

// ErrRequest marks a bad request (a missing group, a bad or too long range).
var ErrRequest = errors.New("bad diagnosis request")

var _ module.Module = (*Module)(nil)

// Module serves the diagnosis API and offers it to the web UI.
type Module struct {
	cfg      Config
	log      *slog.Logger
	query    QueryEngine
	reg      prometheus.Registerer
	model    atomic.Pointer[diagnose.Model] // set by Start; nil without a configuration
	requests *prometheus.CounterVec
	metrics  promset.Set
}

// New builds the module; the configuration is loaded by Start.
func New(cfg Config, d Dependencies) (*Module, error) {
	if d.Query == nil {
		return nil, errors.New("diagnose needs the log query engine")
	}
	if cfg.MaxRange <= 0 {
		cfg.MaxRange = DefaultMaxRange
	}
	if cfg.Limits.MaxFileBytes <= 0 {
		cfg.Limits.MaxFileBytes = awsconfig.DefaultLimits.MaxFileBytes
	}
	if cfg.Limits.MaxFiles <= 0 {
		cfg.Limits.MaxFiles = awsconfig.DefaultLimits.MaxFiles
	}
	m := &Module{cfg: cfg, log: module.Logger(d.Log), query: d.Query, reg: d.Registry}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowlens_diagnose_requests_total",
		Help: "Diagnosis requests (API and web UI) by kind (rejects, path) and result: ok, bad_request (a bad parameter or a range over --diagnose-max-range), not_configured (no --aws-config), busy, timeout, error."},
		[]string{"kind", "result"})
	m.metrics = promset.Set{m.requests}
	return m, nil
}

// Start loads the AWS configuration, if one was given: a bad one fails the
// server's start with the file and JSON path at fault.
func (m *Module) Start(context.Context) error {
	if m.cfg.AWSConfigDir != "" {
		cfg, err := awsconfig.Load(m.cfg.AWSConfigDir, m.cfg.Limits)
		if err != nil {
			return fmt.Errorf("--aws-config: %w", err)
		}
		model := diagnose.Compile(cfg)
		m.model.Store(model)
		m.log.Info("AWS configuration loaded", "dir", m.cfg.AWSConfigDir, "interfaces", model.Interfaces())
	}
	return m.metrics.Register(m.reg)
}

// Stop unregisters the metrics.
func (m *Module) Stop(context.Context) error {
	m.metrics.Unregister(m.reg)
	return nil
}

// Configured reports whether the server has an AWS configuration.
func (m *Module) Configured() bool { return m.model.Load() != nil }

// MaxRange is the longest range Rejects accepts.
func (m *Module) MaxRange() time.Duration { return m.cfg.MaxRange }

// Routes mounts the endpoints behind an admin token.
func (m *Module) Routes(mux *http.ServeMux, protect func(http.Handler) http.Handler) {
	mux.Handle("GET /api/v1/diagnose/rejects", protect(http.HandlerFunc(m.handleRejects)))
	mux.Handle("GET /api/v1/diagnose/path", protect(http.HandlerFunc(m.handlePath)))
}

// Rejects diagnoses the REJECT records of group over [start, end).
func (m *Module) Rejects(ctx context.Context, group string, start, end time.Time) (*diagnose.Report, error) {
	rep, err := m.rejects(ctx, group, start, end)
	m.count("rejects", err)
	return rep, err
}

func (m *Module) rejects(ctx context.Context, group string, start, end time.Time) (*diagnose.Report, error) {
	model := m.model.Load()
	switch {
	case model == nil:
		return nil, ErrNotConfigured
	case group == "":
		return nil, fmt.Errorf("%w: group is required", ErrRequest)
	case group == logquery.FlowsGroup:
		return nil, fmt.Errorf("%w: group %s: the agents' flows have no REJECT records; name a flow-log group", ErrRequest, group)
	case !start.Before(end):
		return nil, fmt.Errorf("%w: start %s is not before end %s", ErrRequest, start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
	case end.Sub(start) > m.cfg.MaxRange:
		return nil, fmt.Errorf("%w: the range %s is longer than %s (--diagnose-max-range)", ErrRequest, end.Sub(start), m.cfg.MaxRange)
	}
	return diagnose.RejectsFromLogs(ctx, engineQuerier{m.query}, model, group, start, end, m.cfg.Workers)
}

// Path analyses one request and its return traffic.
func (m *Module) Path(q diagnose.Query) (*diagnose.Result, error) {
	res, err := m.path(q)
	m.count("path", err)
	return res, err
}

func (m *Module) path(q diagnose.Query) (*diagnose.Result, error) {
	model := m.model.Load()
	if model == nil {
		return nil, ErrNotConfigured
	}
	return model.Analyze(q)
}

// count records a request's result.
func (m *Module) count(kind string, err error) {
	m.requests.WithLabelValues(kind, resultOf(err)).Inc()
}

func resultOf(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrNotConfigured):
		return "not_configured"
	case errors.Is(err, ErrRequest), errors.Is(err, diagnose.ErrQuery), errors.Is(err, diagnose.ErrUnknownEnds),
		errors.Is(err, logquery.ErrBadRequest):
		return "bad_request"
	case errors.Is(err, logquery.ErrBusy):
		return "busy"
	case errors.Is(err, logquery.ErrTimeout):
		return "timeout"
	}
	return "error"
}

// Status is the HTTP status of a diagnosis error.
func Status(err error) int {
	switch resultOf(err) {
	case "not_configured", "busy":
		return http.StatusServiceUnavailable
	case "bad_request":
		return http.StatusBadRequest
	case "timeout":
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// handleRejects answers ?group=G&since=D or ?group=G&start=T&end=T (RFC
// 3339 or Unix seconds; default: the last hour).
func (m *Module) handleRejects(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	start, end, err := timeRange(v, time.Now())
	if err == nil {
		var rep *diagnose.Report
		if rep, err = m.Rejects(r.Context(), v.Get("group"), start, end); err == nil {
			httpjson.Write(w, http.StatusOK, rep)
			return
		}
	} else {
		m.count("rejects", err)
	}
	m.fail(w, err)
}

// timeRange reads since, or start and end, defaulting to DefaultRange.
func timeRange(v url.Values, now time.Time) (time.Time, time.Time, error) {
	since := v.Get("since")
	if since == "" && v.Get("start") == "" {
		since = DefaultRange.String()
	}
	start, end, err := insights.TimeRange(since, v.Get("start"), v.Get("end"), now)
	if err != nil {
		return start, end, fmt.Errorf("%w: %v", ErrRequest, err)
	}
	return start, end, nil
}

// handlePath answers ?src=&dst=&protocol=&dst-port=&src-port=&icmp-type=&icmp-code=,
// the CLI's flags.
func (m *Module) handlePath(w http.ResponseWriter, r *http.Request) {
	p, err := PathParams(r.URL.Query())
	var q diagnose.Query
	if err == nil {
		q, err = p.Query("")
	}
	if err != nil {
		m.count("path", err)
		m.fail(w, err)
		return
	}
	res, err := m.Path(q)
	if err != nil {
		m.fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, res)
}

// PathParams reads a path check's parameters (the CLI's flag names).
func PathParams(v url.Values) (diagnose.PathParams, error) {
	p := diagnose.PathParams{Src: v.Get("src"), Dst: v.Get("dst"), Protocol: v.Get("protocol")}
	for _, n := range []struct {
		name string
		to   *int
	}{{"dst-port", &p.DstPort}, {"src-port", &p.SrcPort}, {"icmp-type", &p.ICMPType}, {"icmp-code", &p.ICMPCode}} {
		*n.to = -1
		s := v.Get(n.name)
		if s == "" {
			continue
		}
		i, err := strconv.Atoi(s)
		if err != nil {
			return p, fmt.Errorf("%w: %s %q: not a number", diagnose.ErrQuery, n.name, s)
		}
		*n.to = i
	}
	return p, nil
}

func (m *Module) fail(w http.ResponseWriter, err error) {
	code := Status(err)
	if code == http.StatusInternalServerError {
		m.log.Warn("diagnosis failed", "err", err)
	}
	httpjson.ErrorText(w, code, err.Error())
}

// engineQuerier runs the diagnosis's queries on the query engine.
type engineQuerier struct{ e QueryEngine }

func (q engineQuerier) Query(ctx context.Context, text, group string, start, end time.Time) ([]string, [][]any, error) {
	res, err := q.e.Run(ctx, logquery.Request{Query: text, Groups: []string{group}, Start: start, End: end})
	if err != nil {
		return nil, nil, err
	}
	return res.Columns, res.Rows, nil
}
