// Package insights turns workload-insights requests (from the API or the
// CLI) into store queries and store rows into the JSON rows users see.
package insights

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

// Request is a top-contributors or series request as users write it.
type Request struct {
	Metric   string // data-transferred (default), retransmissions, timeouts, round-trip-time
	Category string // empty: all categories
	Since    string // e.g. 15m, 2h, 7d; default 15m when Start is empty
	Start    string // RFC 3339 or Unix seconds
	End      string // RFC 3339 or Unix seconds; default now
	Limit    int    // 1..500, default 20
	By       string // resource (default), flow, or an attribute: local.attr.NAME or remote.attr.NAME
	Step     string // series bucket width, default 5m
}

// DefaultLimit and MaxLimit bound Request.Limit.
const (
	DefaultLimit = 20
	MaxLimit     = 500
)

// FromValues reads a request from URL query parameters.
func FromValues(v url.Values) (Request, error) {
	r := Request{
		Metric: v.Get("metric"), Category: v.Get("category"), Since: v.Get("since"),
		Start: v.Get("start"), End: v.Get("end"), By: v.Get("by"), Step: v.Get("step"),
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return r, fmt.Errorf("limit %q is not a number", s)
		}
		r.Limit = n
	}
	return r, nil
}

// Values is the inverse of FromValues.
func (r Request) Values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("metric", r.Metric)
	set("category", r.Category)
	set("since", r.Since)
	set("start", r.Start)
	set("end", r.End)
	set("by", r.By)
	set("step", r.Step)
	if r.Limit != 0 {
		v.Set("limit", strconv.Itoa(r.Limit))
	}
	return v
}

// Query validates the request and resolves its times against now.
func (r Request) Query(now time.Time) (store.TopQuery, error) {
	q := store.TopQuery{Limit: r.Limit}
	var err error
	if r.Metric != "" {
		if q.Metric, err = store.ParseMetric(r.Metric); err != nil {
			return q, err
		}
	}
	if r.Category != "" && r.Category != "all" {
		c, err := topology.ParseCategory(r.Category)
		if err != nil {
			return q, err
		}
		q.Category = &c
	}
	switch r.By {
	case "", "resource":
		q.By = store.ByResource
	case "flow":
		q.By = store.ByFlow
	default:
		ref, err := ParseAttrRef(r.By)
		if err != nil {
			return q, fmt.Errorf("by %q: want resource or flow, or an attribute: local.attr.NAME or remote.attr.NAME", r.By)
		}
		q.By, q.Attribute = store.ByAttribute, ref
	}
	if q.Limit == 0 {
		q.Limit = DefaultLimit
	}
	if q.Limit < 1 || q.Limit > MaxLimit {
		return q, fmt.Errorf("limit %d out of range 1-%d", q.Limit, MaxLimit)
	}
	q.Start, q.End, err = TimeRange(r.Since, r.Start, r.End, now)
	return q, err
}

// ParseAttrRef reads local.attr.NAME or remote.attr.NAME, the names the
// query language gives enrichment attributes.
func ParseAttrRef(s string) (store.AttrRef, error) {
	end, name, ok := strings.Cut(s, ".attr.")
	var ref store.AttrRef
	switch {
	case !ok:
		return ref, fmt.Errorf("%q is not local.attr.NAME or remote.attr.NAME", s)
	case end == "local":
		ref.End = store.EndLocal
	case end == "remote":
		ref.End = store.EndRemote
	default:
		return ref, fmt.Errorf("%q: the end is local or remote", s)
	}
	if err := topology.CheckAttrName(name); err != nil {
		return ref, err
	}
	ref.Name = name
	return ref, nil
}

// SeriesQuery validates a series request.
func (r Request) SeriesQuery(now time.Time) (store.SeriesQuery, error) {
	q, err := r.Query(now)
	if err != nil {
		return store.SeriesQuery{}, err
	}
	sq := store.SeriesQuery{TopQuery: q, Step: 5 * time.Minute}
	if r.Step != "" {
		if sq.Step, err = ParseDuration(r.Step); err != nil {
			return sq, fmt.Errorf("step: %w", err)
		}
		if sq.Step < time.Second {
			return sq, fmt.Errorf("step %s is under 1s", r.Step)
		}
	}
	if n := q.End.Sub(q.Start) / sq.Step; n > store.MaxSeriesBuckets {
		return sq, fmt.Errorf("%d buckets of %s; use a larger --step", n, sq.Step)
	}
	return sq, nil
}

// TimeRange resolves --since or --start/--end. Since and Start exclude each
// other; without either the range is the last 15 minutes.
func TimeRange(since, start, end string, now time.Time) (time.Time, time.Time, error) {
	if since != "" && start != "" {
		return time.Time{}, time.Time{}, errors.New("give --since or --start, not both")
	}
	e := now
	if end != "" {
		t, err := ParseTime(end)
		if err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("end: %w", err)
		}
		e = t
	}
	if start != "" {
		s, err := ParseTime(start)
		if err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("start: %w", err)
		}
		if !s.Before(e) {
			return time.Time{}, time.Time{}, fmt.Errorf("start %s is not before end %s", s.Format(time.RFC3339), e.Format(time.RFC3339))
		}
		return s, e, nil
	}
	if since == "" {
		since = "15m"
	}
	d, err := ParseDuration(since)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("since: %w", err)
	}
	if d <= 0 {
		return time.Time{}, time.Time{}, fmt.Errorf("since %q must be positive", since)
	}
	return e.Add(-d), e, nil
}

// ParseTime accepts RFC 3339 or Unix seconds.
func ParseTime(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, fmt.Errorf("%q is neither RFC 3339 (2026-01-02T15:04:05Z) nor Unix seconds", s)
	}
	return t, nil
}

// ParseDuration is time.ParseDuration plus a day suffix ("7d").
func ParseDuration(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(d, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (e.g. 15m, 2h, 7d)", s)
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (e.g. 15m, 2h, 7d)", s)
	}
	return dur, nil
}
