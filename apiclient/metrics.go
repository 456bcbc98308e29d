package apiclient

import (
	"context"
	"net/url"
	"time"
)

// MetricSeries names one stored metric series.
type MetricSeries struct {
	Namespace  string            `json:"namespace"`
	Metric     string            `json:"metric"`
	Dimensions map[string]string `json:"dimensions,omitempty"`
}

// MetricPoint is one stored point.
type MetricPoint struct {
	Time          time.Time `json:"time"`
	PeriodSeconds float64   `json:"period_seconds"`
	Value         float64   `json:"value"`
	Count         uint64    `json:"count"`
	Sum           float64   `json:"sum"`
	Min           float64   `json:"min"`
	Max           float64   `json:"max"`
}

// MetricPoints is the answer of GET /api/v1/metrics/points.
type MetricPoints struct {
	MetricSeries
	Start  time.Time     `json:"start"`
	End    time.Time     `json:"end"`
	Points []MetricPoint `json:"points"`
}

// Metrics lists the stored series of a namespace (all when empty).
func (c *Client) Metrics(ctx context.Context, namespace string) ([]MetricSeries, error) {
	var out struct {
		Metrics []MetricSeries `json:"metrics"`
	}
	q := url.Values{}
	if namespace != "" {
		q.Set("namespace", namespace)
	}
	err := c.Get(ctx, "/api/v1/metrics", q, &out)
	return out.Metrics, err
}

// MetricPoints reads one series; q carries namespace, metric, dimension
// (repeatable) and since or start/end.
func (c *Client) MetricPoints(ctx context.Context, q url.Values) (*MetricPoints, error) {
	var out MetricPoints
	if err := c.Get(ctx, "/api/v1/metrics/points", q, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
