package metricfilter

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/flowlens/flowlens/metricstore"
)

// aggKey is one metric point being built: a filter, a minute and the
// dimension values (joined by dimSep).
type aggKey struct {
	f      *Compiled
	minute int64 // Unix seconds of the minute's start
	dims   string
}

const dimSep = "\x1f"

// agg is the samples of one point.
type agg struct {
	count         uint64
	sum, min, max float64
}

func (a *agg) add(v float64) {
	if a.count == 0 {
		a.min, a.max = v, v
	} else {
		a.min, a.max = math.Min(a.min, v), math.Max(a.max, v)
	}
	a.count++
	a.sum += v
}

func (a *agg) merge(b agg) {
	if b.count == 0 {
		return
	}
	if a.count == 0 {
		*a = b
		return
	}
	a.min, a.max = math.Min(a.min, b.min), math.Max(a.max, b.max)
	a.count += b.count
	a.sum += b.sum
}

// batchStats counts what one Ingested call did.
type batchStats struct {
	records, matched, badValue uint64
}

// apply runs the group's filters over a batch and adds the results to
// into (a map local to the batch, merged under the lock afterwards).
func apply(filters []*Compiled, unixSec []int64, messages []string, into map[aggKey]*agg) batchStats {
	var st batchStats
	var r Record
	dims := make([]string, 0, MaxDimensions)
	// Consecutive records usually share a minute and filter: remember the
	// last dimensionless key's aggregate to skip the map lookup.
	type hot struct {
		key aggKey
		a   *agg
	}
	last := make([]hot, len(filters))
	get := func(i int, k aggKey) *agg {
		if k.dims == "" && last[i].a != nil && last[i].key == k {
			return last[i].a
		}
		a, ok := into[k]
		if !ok {
			a = &agg{}
			into[k] = a
		}
		if k.dims == "" {
			last[i] = hot{k, a}
		}
		return a
	}
	for i, msg := range messages {
		if i >= len(unixSec) {
			break
		}
		st.records++
		r.Reset(msg)
		minute := unixSec[i] - ((unixSec[i]%60)+60)%60
		for fi, f := range filters {
			out, v, d := f.Eval(&r, dims[:0])
			switch out {
			case Matched:
				st.matched++
				k := aggKey{f: f, minute: minute}
				if len(d) > 0 {
					k.dims = strings.Join(d, dimSep)
				}
				get(fi, k).add(v)
			case BadValue:
				st.badValue++
			case NoMatch:
				if f.DefaultValue != nil {
					get(fi, aggKey{f: f, minute: minute}).add(*f.DefaultValue)
				}
			}
		}
	}
	return st
}

// toPoints turns aggregates into metric points (Value is the sum; the
// count, sum, minimum and maximum let alarms use any statistic), with the
// key of each.
func toPoints(aggs map[aggKey]agg) ([]metricstore.Point, []aggKey) {
	pts := make([]metricstore.Point, 0, len(aggs))
	keys := make([]aggKey, 0, len(aggs))
	for k, a := range aggs {
		keys = append(keys, k)
		var dims map[string]string
		if k.dims != "" {
			vals := strings.Split(k.dims, dimSep)
			dims = make(map[string]string, len(vals))
			for i, name := range k.f.DimensionNames() {
				if i < len(vals) {
					dims[name] = vals[i]
				}
			}
		}
		pts = append(pts, metricstore.Point{Namespace: k.f.MetricNamespace, Metric: k.f.MetricName, Dimensions: dims,
			Time: time.Unix(k.minute, 0), Period: time.Minute, Value: a.sum, Count: a.count, Sum: a.sum, Min: a.min, Max: a.max})
	}
	return pts, keys
}

// mergeStored adds what is already stored for the same minutes (records
// of a minute that arrived after it was flushed): the store keeps every
// copy and readers take the last one, so the new copy must hold the
// minute's whole total. One query per series covers its minutes. Only
// points whose minute was written before are passed (see Flush).
func mergeStored(ctx context.Context, ms metricstore.Store, pts []*metricstore.Point) error {
	type series struct {
		id       metricstore.ID
		from, to time.Time
		idx      map[int64]int // minute -> index in pts
	}
	bySeries := map[string]*series{}
	for i, p := range pts {
		p := *p
		key := p.Namespace + "\x00" + p.Metric + "\x00" + metricstore.DimensionKey(p.Dimensions)
		s, ok := bySeries[key]
		if !ok {
			s = &series{id: metricstore.ID{Namespace: p.Namespace, Metric: p.Metric, Dimensions: p.Dimensions},
				from: p.Time, to: p.Time, idx: map[int64]int{}}
			bySeries[key] = s
		}
		if p.Time.Before(s.from) {
			s.from = p.Time
		}
		if p.Time.After(s.to) {
			s.to = p.Time
		}
		s.idx[p.Time.Unix()] = i
	}
	for _, s := range bySeries {
		stored, err := ms.Query(ctx, metricstore.Query{ID: s.id, Start: s.from, End: s.to.Add(time.Minute)})
		if err != nil {
			return fmt.Errorf("read stored minutes of %s/%s: %w", s.id.Namespace, s.id.Metric, err)
		}
		latest := map[int64]metricstore.Point{} // last copy wins
		for _, sp := range stored {
			if sp.Period == time.Minute {
				latest[sp.Time.Unix()] = sp
			}
		}
		for minute, sp := range latest {
			i, ok := s.idx[minute]
			if !ok || sp.Count == 0 {
				continue
			}
			p := pts[i]
			a := agg{count: p.Count, sum: p.Sum, min: p.Min, max: p.Max}
			a.merge(agg{count: sp.Count, sum: sp.Sum, min: sp.Min, max: sp.Max})
			p.Count, p.Sum, p.Min, p.Max, p.Value = a.count, a.sum, a.min, a.max, a.sum
		}
	}
	return nil
}
