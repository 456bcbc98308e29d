package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/golden"
	"github.com/flowlens/flowlens/internet"
)

func sampleInternet() ([]internet.Measurement, []internet.Event) {
	t0 := time.Date(2026, 3, 1, 12, 5, 0, 0, time.UTC)
	paris := internet.Measurement{Monitor: "web", Time: t0, PeriodSeconds: 60,
		Location: internet.Location{City: "Paris", Subdivision: "Île-de-France", Country: "FR", ASN: 64500, ASName: "Example Transit",
			Latitude: 48.857, Longitude: 2.352},
		BytesIn: 120_000, BytesOut: 2_400_000, ClientConnections: 80, FailedConnections: 1, TrafficShare: 12.5,
		RTTP50MS: 21.3, RTTP90MS: 25.1, RTTP95MS: 27.9, RetransmissionRate: 5.02, FailedConnectionRate: 1.25,
		AvailabilityScore: 100, PerformanceScore: 3.4, TrafficImpacted: 12.1}
	unknown := internet.Measurement{Monitor: "web", Time: t0, PeriodSeconds: 60, BytesIn: 10, BytesOut: 20,
		Location:          internet.Location{Unresolved: "private range"},
		AvailabilityScore: 100, PerformanceScore: 100, TrafficShare: 0.01}
	end := t0.Add(4 * time.Minute)
	ev := internet.Event{ID: "web-performance-1772366700000", Monitor: "web", Status: internet.StatusResolved,
		Type: internet.TypePerformance, StartedAt: t0, EndedAt: &end, LastUpdatedAt: end, OverallScore: 94.3, WorstScore: 88.2,
		TrafficImpacted: 5.43, ImpactedLocations: []internet.Measurement{paris},
		Cause: internet.Cause{Kind: internet.CauseASN, ASN: 64500, ASName: "Example Transit",
			Summary: "AS64500 (Example Transit) is impacted in 33 of the 40 cities where it carries traffic, while 0 of 561 other networks in those cities are: the provider's network",
			Evidence: internet.Evidence{ImpactedCityNetworks: 33, JudgedCityNetworks: 1061, ImpactedASNs: 1, ImpactedCities: 33,
				ASNCitiesImpacted: 33, ASNCities: 40, OtherNetworks: 561, ImpactShare: 100}}}
	return []internet.Measurement{paris, unknown}, []internet.Event{ev}
}

func TestInternetOutputGolden(t *testing.T) {
	ms, evs := sampleInternet()
	for _, tc := range []struct {
		name string
		fn   func(*bytes.Buffer) error
	}{
		{"internet_measurements.table", func(b *bytes.Buffer) error { return printInternet(b, "table", ms, measurementTable) }},
		{"internet_events.table", func(b *bytes.Buffer) error { return printInternet(b, "table", evs, eventTable) }},
		{"internet_events.json", func(b *bytes.Buffer) error { return printInternet(b, "json", evs, eventTable) }},
	} {
		var buf bytes.Buffer
		if err := tc.fn(&buf); err != nil {
			t.Fatal(err)
		}
		golden.Check(t, tc.name+".golden", buf.String())
	}
	var buf bytes.Buffer
	printInternet(&buf, "json", []internet.Event(nil), eventTable)
	if buf.String() != "[]\n" {
		t.Errorf("no events must print an empty JSON array, got %q", buf.String())
	}
}
