// Package seriesapi is the server module that answers the metric-series
// API over the metric store: what monitors, metric filters and the
// internet monitor publish and alarms can watch.
//
//	GET /api/v1/metrics          the stored series (?namespace=)
//	GET /api/v1/metrics/points   one series' points
package seriesapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/flowlens/flowlens/insights"
	"github.com/flowlens/flowlens/internal/httpjson"
	"github.com/flowlens/flowlens/metricstore"
)

// queryTimeout bounds one API query.
const queryTimeout = 60 * time.Second

// Dependencies are what the API reads.
type Dependencies struct {
	Metrics metricstore.Store
}

// Module serves the API; it runs nothing.
type Module struct {
	metrics metricstore.Store
}

// New returns the module.
func New(d Dependencies) *Module { return &Module{metrics: d.Metrics} }

// Routes mounts the endpoints behind an admin token.
func (m *Module) Routes(mux *http.ServeMux, protect func(http.Handler) http.Handler) {
	mux.Handle("GET /api/v1/metrics", protect(http.HandlerFunc(m.handleList)))
	mux.Handle("GET /api/v1/metrics/points", protect(http.HandlerFunc(m.handlePoints)))
}

// Start does nothing: the API has no goroutines.
func (m *Module) Start(context.Context) error { return nil }

// Stop does nothing.
func (m *Module) Stop(context.Context) error { return nil }

// Point is one point in GET /api/v1/metrics/points.
type Point struct {
	Time          time.Time `json:"time"`
	PeriodSeconds float64   `json:"period_seconds"`
	Value         float64   `json:"value"`
	Count         uint64    `json:"count"`
	Sum           float64   `json:"sum"`
	Min           float64   `json:"min"`
	Max           float64   `json:"max"`
}

// PointsResponse is the body of GET /api/v1/metrics/points.
type PointsResponse struct {
	metricstore.ID
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Points []Point   `json:"points"`
}

// handleList lists the stored metric series, optionally of one namespace.
func (m *Module) handleList(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	ids, err := m.metrics.List(ctx, r.URL.Query().Get("namespace"))
	if err != nil {
		writeQueryError(w, err)
		return
	}
	if ids == nil {
		ids = []metricstore.ID{}
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"metrics": ids})
}

// handlePoints returns one series' points:
// ?namespace=&metric=&dimension=k=v (repeatable)&since= or &start=&end=.
func (m *Module) handlePoints(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	id := metricstore.ID{Namespace: v.Get("namespace"), Metric: v.Get("metric")}
	if id.Namespace == "" || id.Metric == "" {
		httpjson.ErrorText(w, http.StatusBadRequest, "namespace and metric are required")
		return
	}
	for _, d := range v["dimension"] {
		k, val, ok := strings.Cut(d, "=")
		if !ok || k == "" {
			httpjson.ErrorText(w, http.StatusBadRequest, "dimension "+d+": want NAME=VALUE")
			return
		}
		if id.Dimensions == nil {
			id.Dimensions = map[string]string{}
		}
		id.Dimensions[k] = val
	}
	start, end, err := insights.TimeRange(v.Get("since"), v.Get("start"), v.Get("end"), time.Now())
	if err != nil {
		httpjson.ErrorText(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	pts, err := m.metrics.Query(ctx, metricstore.Query{ID: id, Start: start, End: end})
	if err != nil {
		writeQueryError(w, err)
		return
	}
	resp := PointsResponse{ID: id, Start: start.UTC(), End: end.UTC(), Points: make([]Point, len(pts))}
	for i, p := range pts {
		resp.Points[i] = Point{Time: p.Time.UTC(), PeriodSeconds: p.Period.Seconds(), Value: p.Value,
			Count: p.Count, Sum: p.Sum, Min: p.Min, Max: p.Max}
	}
	httpjson.Write(w, http.StatusOK, resp)
}

// writeQueryError tells the caller's mistakes (400) from the store's (500).
func writeQueryError(w http.ResponseWriter, err error) {
	if errors.Is(err, metricstore.ErrInvalid) {
		httpjson.ErrorText(w, http.StatusBadRequest, err.Error())
		return
	}
	httpjson.ErrorText(w, http.StatusInternalServerError, "query: "+err.Error())
}
