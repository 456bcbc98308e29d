package alarm

import (
	"math"
	"time"

	"github.com/flowlens/flowlens/metricstore"
)

// summary is the sample set of one period, combined from points.
type summary struct {
	count         float64
	sum, min, max float64
}

func (s *summary) add(p metricstore.Point) {
	// A point with Count 0 carries a single value (a gauge such as
	// health_indicator or a percentile); otherwise its count/sum/min/max
	// describe the samples behind it and combine exactly.
	c, sum, lo, hi := float64(p.Count), p.Sum, p.Min, p.Max
	if p.Count == 0 {
		c, sum, lo, hi = 1, p.Value, p.Value, p.Value
	}
	if s.count == 0 {
		s.min, s.max = lo, hi
	} else {
		s.min, s.max = math.Min(s.min, lo), math.Max(s.max, hi)
	}
	s.count += c
	s.sum += sum
}

func (s *summary) value(st Statistic) float64 {
	switch st {
	case Sum:
		return s.sum
	case Minimum:
		return s.min
	case Maximum:
		return s.max
	case SampleCount:
		return s.count
	}
	return s.sum / s.count
}

// Datapoints computes the statistic of each of the n periods ending at end
// (oldest first) from the series' points: a point belongs to the period its
// Time falls in. Of points stored twice for the same time and period (a
// re-published period), the last one wins. A period with no point is
// Missing.
func Datapoints(points []metricstore.Point, st Statistic, period time.Duration, n int, end time.Time) []Datapoint {
	start := end.Add(-time.Duration(n) * period)
	sums := make([]summary, n)
	type copyKey struct {
		ms     int64
		period time.Duration
	}
	last := make(map[copyKey]int, len(points))
	for i, p := range points {
		last[copyKey{p.Time.UnixMilli(), p.Period}] = i
	}
	for i, p := range points {
		if last[copyKey{p.Time.UnixMilli(), p.Period}] != i {
			continue // superseded by a later copy (Query returns them in storage order)
		}
		if p.Time.Before(start) || !p.Time.Before(end) {
			continue
		}
		sums[int(p.Time.Sub(start)/period)].add(p)
	}
	out := make([]Datapoint, n)
	for i := range out {
		out[i].Time = start.Add(time.Duration(i) * period)
		if sums[i].count == 0 {
			out[i].Missing = true
			continue
		}
		out[i].Value = sums[i].value(st)
	}
	return out
}
