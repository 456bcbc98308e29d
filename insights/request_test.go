package insights

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

func TestQuery(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		req   Request
		check func(q store.TopQuery) bool
		err   string
	}{
		{"defaults", Request{}, func(q store.TopQuery) bool {
			return q.Metric == store.MetricDataTransferred && q.Limit == 20 && q.By == store.ByResource &&
				q.Category == nil && q.End.Equal(now) && q.Start.Equal(now.Add(-15*time.Minute))
		}, ""},
		{"days", Request{Since: "7d"}, func(q store.TopQuery) bool { return q.Start.Equal(now.Add(-7 * 24 * time.Hour)) }, ""},
		{"unix range", Request{Start: "1795000000", End: "1795003600"}, func(q store.TopQuery) bool {
			return q.Start.Unix() == 1795000000 && q.End.Unix() == 1795003600
		}, ""},
		{"rfc3339", Request{Start: "2026-11-22T10:00:00Z"}, func(q store.TopQuery) bool { return q.End.Sub(q.Start) == 2*time.Hour }, ""},
		{"category", Request{Category: "inter-zone", By: "flow", Metric: "round-trip-time", Limit: 500}, func(q store.TopQuery) bool {
			return *q.Category == topology.CategoryInterZone && q.By == store.ByFlow && q.Metric == store.MetricRoundTripTime
		}, ""},
		{"cloud category", Request{Category: "INTER_AZ"}, func(q store.TopQuery) bool { return *q.Category == topology.CategoryInterZone }, ""},
		{"bad metric", Request{Metric: "latency"}, nil, "unknown metric"},
		{"bad category", Request{Category: "lan"}, nil, "unknown category"},
		{"bad by", Request{By: "host"}, nil, "want resource or flow"},
		{"by remote attribute", Request{By: "remote.attr.k8s_namespace"}, func(q store.TopQuery) bool {
			return q.By == store.ByAttribute && q.Attribute == store.AttrRef{End: store.EndRemote, Name: "k8s_namespace"}
		}, ""},
		{"by local attribute", Request{By: "local.attr.team"}, func(q store.TopQuery) bool {
			return q.By == store.ByAttribute && q.Attribute == store.AttrRef{End: store.EndLocal, Name: "team"}
		}, ""},
		{"bad attribute name", Request{By: "remote.attr.Team"}, nil, "local.attr.NAME or remote.attr.NAME"},
		{"bad attribute end", Request{By: "middle.attr.team"}, nil, "local.attr.NAME or remote.attr.NAME"},
		{"limit", Request{Limit: 501}, nil, "out of range 1-500"},
		{"both", Request{Since: "1h", Start: "1"}, nil, "not both"},
		{"backwards", Request{Start: "2026-11-22T13:00:00Z"}, nil, "is not before end"},
		{"bad time", Request{Start: "yesterday"}, nil, "neither RFC 3339"},
		{"bad since", Request{Since: "fortnight"}, nil, "not a duration"},
		{"negative", Request{Since: "-1h"}, nil, "must be positive"},
	}
	for _, c := range cases {
		q, err := c.req.Query(now)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err %v, want %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil || !c.check(q) {
			t.Errorf("%s: %+v, %v", c.name, q, err)
		}
	}
}

func TestValuesRoundTrip(t *testing.T) {
	in := Request{Metric: "timeouts", Category: "service", Since: "2h", By: "flow", Limit: 7, Step: "1m"}
	out, err := FromValues(in.Values())
	if err != nil || out != in {
		t.Fatalf("%+v -> %+v (%v)", in, out, err)
	}
	if _, err := FromValues(url.Values{"limit": {"ten"}}); err == nil {
		t.Error("non-numeric limit accepted")
	}
}

func TestSeriesQuery(t *testing.T) {
	now := time.Now()
	if q, err := (Request{Since: "1h"}).SeriesQuery(now); err != nil || q.Step != 5*time.Minute {
		t.Errorf("default step: %v %v", q.Step, err)
	}
	if _, err := (Request{Since: "30d", Step: "1s"}).SeriesQuery(now); err == nil || !strings.Contains(err.Error(), "larger --step") {
		t.Errorf("too many buckets: %v", err)
	}
	if _, err := (Request{Step: "10ms"}).SeriesQuery(now); err == nil {
		t.Error("sub-second step accepted")
	}
}
