package server

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/flowlens/flowlens/insights"
	"github.com/flowlens/flowlens/metricstore"
)

// metricSeries is one series in GET /api/v1/metrics.
type metricSeries = metricstore.ID

// metricPoint is one point in GET /api/v1/metrics/points.
type metricPoint struct {
	Time          time.Time `json:"time"`
	PeriodSeconds float64   `json:"period_seconds"`
	Value         float64   `json:"value"`
	Count         uint64    `json:"count"`
	Sum           float64   `json:"sum"`
	Min           float64   `json:"min"`
	Max           float64   `json:"max"`
}

type metricPointsResponse struct {
	metricstore.ID
	Start  time.Time     `json:"start"`
	End    time.Time     `json:"end"`
	Points []metricPoint `json:"points"`
}

// handleMetricList lists the stored metric series, optionally of one
// namespace: what monitors, metric filters and the internet monitor
// publish and alarms can watch.
func (s *Server) handleMetricList(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	ids, err := s.metrics.List(ctx, r.URL.Query().Get("namespace"))
	if err != nil {
		writeQueryError(w, err)
		return
	}
	if ids == nil {
		ids = []metricstore.ID{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"metrics": ids})
}

// handleMetricPoints returns one series' points:
// ?namespace=&metric=&dimension=k=v (repeatable)&since= or &start=&end=.
func (s *Server) handleMetricPoints(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	id := metricstore.ID{Namespace: v.Get("namespace"), Metric: v.Get("metric")}
	if id.Namespace == "" || id.Metric == "" {
		writeError(w, http.StatusBadRequest, "namespace and metric are required")
		return
	}
	for _, d := range v["dimension"] {
		k, val, ok := strings.Cut(d, "=")
		if !ok || k == "" {
			writeError(w, http.StatusBadRequest, "dimension "+d+": want NAME=VALUE")
			return
		}
		if id.Dimensions == nil {
			id.Dimensions = map[string]string{}
		}
		id.Dimensions[k] = val
	}
	start, end, err := insights.TimeRange(v.Get("since"), v.Get("start"), v.Get("end"), time.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	pts, err := s.metrics.Query(ctx, metricstore.Query{ID: id, Start: start, End: end})
	if err != nil {
		writeQueryError(w, err)
		return
	}
	resp := metricPointsResponse{ID: id, Start: start.UTC(), End: end.UTC(), Points: make([]metricPoint, len(pts))}
	for i, p := range pts {
		resp.Points[i] = metricPoint{Time: p.Time.UTC(), PeriodSeconds: p.Period.Seconds(), Value: p.Value,
			Count: p.Count, Sum: p.Sum, Min: p.Min, Max: p.Max}
	}
	writeJSON(w, http.StatusOK, resp)
}
