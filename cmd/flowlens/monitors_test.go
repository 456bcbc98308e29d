package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/flowlens/flowlens/health"
	"github.com/flowlens/flowlens/internal/golden"
	"github.com/flowlens/flowlens/monitor"
	"github.com/flowlens/flowlens/topology"
)

// sampleMonitorView is a degraded monitor with evidence and contributors.
func sampleMonitorView() monitor.View {
	start := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	local, _ := topology.ParseResource("zone:zone-a")
	remote, _ := topology.ParseResource("zone:zone-b")
	rec := monitor.Record{Spec: monitor.Spec{Name: "a-to-b", Local: []topology.Resource{local}, Remote: []topology.Resource{remote},
		Period: 10 * time.Second}, Source: "api", Status: "active", Created: start, Updated: start}
	path := append([]health.Hop{{ID: "host:sim-0", Kind: "host"}}, health.Path(
		topology.Location{Kind: topology.KindSubnet, Subnet: "web-a", Zone: "zone-a", Region: "eu-west", Network: "net-prod"},
		topology.Location{Kind: topology.KindSubnet, Subnet: "web-b", Zone: "zone-b", Region: "eu-west", Network: "net-prod"},
		topology.CategoryInterZone)...)
	ev := &monitor.Evaluation{Monitor: "a-to-b", WindowStart: start, WindowEnd: start.Add(10 * time.Second), PeriodSeconds: 10,
		Health: health.Health{State: health.Degraded, Evidence: health.Evidence{
			Summary: "degraded segment zone-a>zone-b: 4 independent host pairs affected (4 of 4 active): retransmission rate 0.0209 vs baseline 0.0004",
			Segments: []health.SegmentEvidence{
				{ID: "zone-a>zone-b", Kind: "link", Rank: 1, Degraded: true, Score: 1, ActivePairs: 4, AffectedPairs: 4, IndependentPairs: 4,
					RequiredPairs: 3, Baseline: health.Figures{RetransmissionRate: 0.0004, RTTUS: 802}, Now: health.Figures{RetransmissionRate: 0.0209, RTTUS: 543},
					Reason: "4 independent host pairs affected (4 of 4 active): retransmission rate 0.0209 vs baseline 0.0004"},
				{ID: "zone:zone-a", Kind: "zone", Rank: 7, Score: 0.5, ActivePairs: 8, AffectedPairs: 4, IndependentPairs: 4, RequiredPairs: 3,
					Reason: "its affected host pairs cross degraded zone-a>zone-b"},
			}, ActivePairs: 4, AffectedPairs: 4}},
		Metrics: monitor.Metrics{DataTransferred: 159933523, Retransmissions: 1554, Timeouts: 49, SegmentsSent: 74300,
			RetransmissionRate: 0.0209, RoundTripTime: &monitor.RTT{Samples: 80, Avg: 516, P50: 222, P90: 1387, P99: 3098}},
		Contributors: map[string][]monitor.Contributor{monitor.MetricRetransmissions: {{LocalIP: "10.1.1.10", LocalHost: "sim-0",
			RemoteIP: "10.1.11.10", Port: 5201, Direction: "client", Category: "inter-zone", Value: 454, Path: path}}}}
	return monitor.NewView(rec, ev, true)
}

func TestPrintMonitorGolden(t *testing.T) {
	v := sampleMonitorView()
	var buf bytes.Buffer
	if err := printMonitor(&buf, &v); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "monitor_get.table.golden", buf.String())
	buf.Reset()
	if err := writeJSONTo(&buf, v); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "monitor_get.json.golden", buf.String())
	buf.Reset()
	local, _ := topology.ParseResource("subnet:web-a")
	pending := monitor.NewView(monitor.Record{Spec: monitor.Spec{Name: "new", Local: []topology.Resource{local}, Period: time.Minute},
		Source: "config", Status: "pending"}, nil, false)
	if err := printMonitorList(&buf, []monitor.View{v, pending}); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "monitor_list.table.golden", buf.String())
}
