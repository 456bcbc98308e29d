package web

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/flowlens/flowlens/internet"
)

// InternetModule is what the pages use of the internet monitor.
type InternetModule interface {
	Monitors() []internet.Monitor
	TopLocations(ctx context.Context, q internet.MeasurementQuery) ([]internet.TopLocation, error)
	Events(ctx context.Context, q internet.EventQuery) ([]internet.Event, error)
}

type internetPages struct{ m InternetModule }

func internetAdapter(m InternetModule) internetAPI {
	if m == nil {
		return nil
	}
	return internetPages{m}
}

func (p internetPages) monitors() []string {
	var out []string
	for _, m := range p.m.Monitors() {
		out = append(out, m.Name)
	}
	return out
}

func (p internetPages) locations(ctx context.Context, monitor string, start, end time.Time) ([]cityNetwork, error) {
	top, err := p.m.TopLocations(ctx, internet.MeasurementQuery{Monitor: monitor, Start: start, End: end, Limit: 2000})
	if err != nil {
		return nil, err
	}
	out := make([]cityNetwork, len(top))
	for i, t := range top {
		out[i] = cityNetwork{City: t.City, Country: t.Country, ASN: t.ASN, ASName: t.ASName, Network: t.Network(), Lat: t.Latitude, Lon: t.Longitude,
			Bytes: float64(t.BytesIn + t.BytesOut), Share: t.TrafficShare / 100, RTTP50: t.RTTP50MS, RTTP90: t.RTTP90MS,
			RTTP95: t.RTTP95MS, Performance: t.PerformanceScore, Availability: t.AvailabilityScore}
	}
	return out, nil
}

func (p internetPages) events(ctx context.Context) ([]internetEvent, error) {
	end := time.Now()
	evs, err := p.m.Events(ctx, internet.EventQuery{Start: end.Add(-7 * 24 * time.Hour), End: end.Add(time.Minute), Limit: 50})
	if err != nil {
		return nil, err
	}
	out := make([]internetEvent, len(evs))
	for i, e := range evs {
		cause := e.Cause.Summary
		if cause == "" {
			cause = e.Cause.Kind
		}
		var impact []string
		if e.TrafficImpacted > 0 {
			impact = append(impact, fmt.Sprintf("%.1f%% of traffic impacted", e.TrafficImpacted))
		}
		if n := len(e.ImpactedLocations); n > 0 {
			impact = append(impact, fmt.Sprintf("%d city-networks", n))
		}
		ev := internetEvent{ID: e.ID, Monitor: e.Monitor, Status: e.Status, Type: e.Type, Cause: cause,
			Started: e.StartedAt, Impact: strings.Join(impact, ", ")}
		if e.EndedAt != nil {
			ev.Ended = *e.EndedAt
		}
		out[i] = ev
	}
	return out, nil
}
