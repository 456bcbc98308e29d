package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/flowlens/flowlens/topology"
)

// ErrInvalidQuery marks a query the caller got wrong (an HTTP 400), as
// opposed to a failure of the store. Every Store wraps it the same way, so
// the API layer can tell them apart without knowing which store runs.
var ErrInvalidQuery = errors.New("invalid query")

// MaxLimit is the largest TopQuery.Limit.
const MaxLimit = 500

// DefaultStep is the SeriesQuery.Step used when Step is zero.
const DefaultStep = 5 * time.Minute

// MaxSeriesBuckets bounds (End-Start)/Step so that one query cannot ask for
// millions of points (7 days of 1-minute steps is 10,080).
const MaxSeriesBuckets = 20000

// Validate checks q the way every store does; errors wrap ErrInvalidQuery.
func (q TopQuery) Validate() error {
	switch {
	case q.Limit < 1 || q.Limit > MaxLimit:
		return fmt.Errorf("%w: limit %d is outside 1..%d", ErrInvalidQuery, q.Limit, MaxLimit)
	case int(q.Metric) >= len(metricNames):
		return fmt.Errorf("%w: unknown metric %d", ErrInvalidQuery, q.Metric)
	case q.By != ByResource && q.By != ByFlow && q.By != ByAttribute:
		return fmt.Errorf("%w: unknown grouping %d", ErrInvalidQuery, q.By)
	case q.By == ByAttribute && q.Attribute.End != EndLocal && q.Attribute.End != EndRemote:
		return fmt.Errorf("%w: unknown flow end %d", ErrInvalidQuery, q.Attribute.End)
	case q.By == ByAttribute && topology.CheckAttrName(q.Attribute.Name) != nil:
		return fmt.Errorf("%w: %w", ErrInvalidQuery, topology.CheckAttrName(q.Attribute.Name))
	case q.Start.IsZero() || q.End.IsZero():
		return fmt.Errorf("%w: start and end are required", ErrInvalidQuery)
	case !q.End.After(q.Start):
		return fmt.Errorf("%w: end %s is not after start %s", ErrInvalidQuery,
			q.End.Format(time.RFC3339), q.Start.Format(time.RFC3339))
	case q.Category != nil && int(*q.Category) >= len(topology.Categories):
		return fmt.Errorf("%w: unknown category %d", ErrInvalidQuery, *q.Category)
	}
	return nil
}

// EffectiveStep is Step, or DefaultStep when Step is zero.
func (q SeriesQuery) EffectiveStep() time.Duration {
	if q.Step == 0 {
		return DefaultStep
	}
	return q.Step
}

// Validate checks the TopQuery part and the step: at least one second, a
// whole number of milliseconds, and at most MaxSeriesBuckets buckets.
func (q SeriesQuery) Validate() error {
	if err := q.TopQuery.Validate(); err != nil {
		return err
	}
	if q.By == ByAttribute {
		return fmt.Errorf("%w: series cannot be grouped by attribute (use top)", ErrInvalidQuery)
	}
	step := q.EffectiveStep()
	switch {
	case step < time.Second:
		return fmt.Errorf("%w: step %s is shorter than 1s", ErrInvalidQuery, step)
	case step%time.Millisecond != 0:
		return fmt.Errorf("%w: step %s is not a whole number of milliseconds", ErrInvalidQuery, step)
	case q.End.Sub(q.Start)/step > MaxSeriesBuckets:
		return fmt.Errorf("%w: %s in steps of %s is more than %d buckets", ErrInvalidQuery,
			q.End.Sub(q.Start), step, MaxSeriesBuckets)
	}
	return nil
}
