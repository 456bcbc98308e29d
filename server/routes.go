package server

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/flowlens/flowlens/insights"
	"github.com/flowlens/flowlens/internal/httpjson"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

// queryTimeout bounds one API query.
const queryTimeout = 60 * time.Second

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.Handle("GET /metrics", s.metricsHandler())
	mux.Handle("POST /api/v1/ingest", s.requireIngestToken(s.ingester))
	mux.Handle("GET /api/v1/insights/top", s.requireToken(http.HandlerFunc(s.handleTop)))
	mux.Handle("GET /api/v1/insights/series", s.requireToken(http.HandlerFunc(s.handleSeries)))
	mux.Handle("GET /api/v1/topology", s.requireToken(http.HandlerFunc(s.handleTopology)))
	mux.Handle("GET /api/v1/topology/lookup", s.requireToken(http.HandlerFunc(s.handleLookup)))
	mux.Handle("GET /api/v1/agents", s.requireToken(http.HandlerFunc(s.handleAgents)))
	mux.Handle("GET /api/v1/metrics", s.requireToken(http.HandlerFunc(s.handleMetricList)))
	mux.Handle("GET /api/v1/metrics/points", s.requireToken(http.HandlerFunc(s.handleMetricPoints)))
	for _, m := range s.modules {
		m.Routes(mux, s.requireToken)
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	if !s.ready.Load() {
		writeError(w, http.StatusServiceUnavailable, "starting")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "uptime_seconds": int(time.Since(s.started).Seconds())})
}

// topResponse is the body of /api/v1/insights/top.
type topResponse struct {
	Metric   string         `json:"metric"`
	Category string         `json:"category"`
	By       string         `json:"by"`
	Start    time.Time      `json:"start"`
	End      time.Time      `json:"end"`
	Rows     []insights.Row `json:"rows"`
}

func (s *Server) handleTop(w http.ResponseWriter, r *http.Request) {
	req, err := insights.FromValues(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	q, err := req.Query(time.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	rows, err := s.store.Top(ctx, q)
	if err != nil {
		writeQueryError(w, err)
		return
	}
	resp := topResponse{Metric: q.Metric.String(), Category: categoryName(q.Category), By: byName(q.By),
		Start: q.Start.UTC(), End: q.End.UTC(), Rows: make([]insights.Row, len(rows))}
	for i, row := range rows {
		resp.Rows[i] = insights.FromStore(q.Metric, row)
	}
	writeJSON(w, http.StatusOK, resp)
}

// seriesResponse is the body of /api/v1/insights/series.
type seriesResponse struct {
	topResponse
	StepSeconds int64                `json:"step_seconds"`
	Series      []insights.SeriesRow `json:"series"`
}

func (s *Server) handleSeries(w http.ResponseWriter, r *http.Request) {
	req, err := insights.FromValues(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	q, err := req.SeriesQuery(time.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	series, err := s.store.Series(ctx, q)
	if err != nil {
		writeQueryError(w, err)
		return
	}
	resp := seriesResponse{
		topResponse: topResponse{Metric: q.Metric.String(), Category: categoryName(q.Category), By: byName(q.By),
			Start: q.Start.UTC(), End: q.End.UTC()},
		StepSeconds: int64(q.Step / time.Second),
		Series:      make([]insights.SeriesRow, len(series)),
	}
	for i, sr := range series {
		out := insights.SeriesRow{Row: insights.FromStore(q.Metric, sr.Row), Points: make([]insights.Point, len(sr.Points))}
		for j, p := range sr.Points {
			out.Points[j] = insights.Point{Time: p.Time.Unix(), Value: p.Value}
		}
		resp.Series[i] = out
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleTopology(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.topology.Load())
}

// lookupRow is one answer of /api/v1/topology/lookup.
type lookupRow struct {
	IP       string            `json:"ip"`
	Location topology.Location `json:"location"`
	Resource string            `json:"resource"`
}

func (s *Server) handleLookup(w http.ResponseWriter, r *http.Request) {
	topo := s.topology.Load()
	var out []lookupRow
	for _, arg := range r.URL.Query()["ip"] {
		for _, part := range strings.Split(arg, ",") {
			ip, err := netip.ParseAddr(strings.TrimSpace(part))
			if err != nil {
				writeError(w, http.StatusBadRequest, "ip "+part+": not an IP address")
				return
			}
			loc := topo.Lookup(ip.Unmap())
			out = append(out, lookupRow{IP: ip.String(), Location: loc, Resource: insights.RemoteResource(loc)})
		}
	}
	if len(out) == 0 {
		writeError(w, http.StatusBadRequest, "give at least one ?ip=")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleAgents(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.agents.List())
}

func categoryName(c *topology.Category) string {
	if c == nil {
		return "all"
	}
	return c.String()
}

func byName(b store.Grouping) string {
	if b == store.ByFlow {
		return "flow"
	}
	return "resource"
}

// writeJSON and writeError are the shared answers (internal/httpjson)
// under the names this package's handlers use.
func writeJSON(w http.ResponseWriter, code int, v any) { httpjson.Write(w, code, v) }

// writeQueryError tells the caller's mistakes (400) from the store's (500).
func writeQueryError(w http.ResponseWriter, err error) {
	if errors.Is(err, store.ErrInvalidQuery) {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeError(w, http.StatusInternalServerError, "query: "+err.Error())
}

func writeError(w http.ResponseWriter, code int, msg string) { httpjson.ErrorText(w, code, msg) }
