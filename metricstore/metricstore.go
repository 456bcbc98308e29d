// Package metricstore keeps metric points: what monitors, metric filters and
// the internet monitor publish, and what alarms evaluate. A point is one
// value of one metric (namespace, name, dimensions) for one period, with
// the count, sum, minimum and maximum of the samples behind it so that
// points of a finer period combine into a coarser one exactly (except
// percentiles, which are published as their own metrics).
package metricstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/flowlens/flowlens/internal/apierr"
)

// Point is one value of one metric for one period starting at Time.
type Point struct {
	Namespace  string            // e.g. "FlowLens/Monitors", "FlowLens/Internet", "FlowLens/Logs"
	Metric     string            // snake_case, e.g. "retransmissions"
	Dimensions map[string]string // at most a few; nil and empty are the same
	Time       time.Time         // period start
	Period     time.Duration     // period length
	Value      float64           // the metric's value for the period
	Count      uint64            // samples behind Value (0 when not meaningful)
	Sum        float64
	Min        float64
	Max        float64
}

// ID names one series: a metric with one set of dimension values.
type ID struct {
	Namespace  string            `json:"namespace"`
	Metric     string            `json:"metric"`
	Dimensions map[string]string `json:"dimensions,omitempty"`
}

// Query selects the points of one series with Time in [Start, End).
type Query struct {
	ID
	Start, End time.Time
}

// ErrInvalid marks a point or query that cannot be stored or answered.
var ErrInvalid = apierr.Invalid("invalid metric point")

// Store keeps metric points. The embedded implementation is
// store/duckdb.MetricPoints; features depend on this interface only.
type Store interface {
	// Put stores points; they become visible together.
	Put(ctx context.Context, pts []Point) error
	// Query returns the series' points in time order. Points stored twice
	// for the same time (a re-evaluated period) are all returned; the last
	// stored comes last.
	Query(ctx context.Context, q Query) ([]Point, error)
	// List returns the series stored under namespace (every namespace when
	// empty), sorted.
	List(ctx context.Context, namespace string) ([]ID, error)
	// DeleteBefore removes points older than cutoff (retention).
	DeleteBefore(ctx context.Context, cutoff time.Time) error
}

// DimensionKey is the canonical text of a dimension set (JSON with sorted
// keys; "{}" for none), the form stored and compared.
func DimensionKey(d map[string]string) string {
	if len(d) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(d) // map keys are sorted by encoding/json
	return string(b)
}

// Validate checks what every store requires of a series' identity.
func Validate(id ID) error {
	if strings.TrimSpace(id.Namespace) == "" || strings.TrimSpace(id.Metric) == "" {
		return fmt.Errorf("%w: namespace and metric are required", ErrInvalid)
	}
	return nil
}
