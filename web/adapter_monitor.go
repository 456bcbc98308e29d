package web

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/flowlens/flowlens/health"
	"github.com/flowlens/flowlens/metricstore"
	"github.com/flowlens/flowlens/monitor"
)

// MonitorModule is what the pages use of the monitor module.
type MonitorModule interface {
	List() []monitor.Record
	Get(name string) (monitor.Record, error)
	Last(name string) *monitor.Evaluation
	Create(ctx context.Context, s monitor.Spec) (monitor.Record, error)
	Update(ctx context.Context, s monitor.Spec) (monitor.Record, error)
	Delete(ctx context.Context, name string) error
}

type monitorPages struct {
	m      MonitorModule
	points metricstore.Store
}

func monitorAdapter(m MonitorModule, points metricstore.Store) monitorsAPI {
	if m == nil || points == nil {
		return nil
	}
	return monitorPages{m: m, points: points}
}

func resourceTexts[T fmt.Stringer](rs []T) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}

func (p monitorPages) row(r monitor.Record) monitorRow {
	row := monitorRow{Name: r.Name, Status: r.Status, Health: "UNKNOWN", Local: resourceTexts(r.Local),
		Remote: resourceTexts(r.Remote), Period: r.Period}
	if r.StatusMessage != "" {
		row.Status += ": " + r.StatusMessage
	}
	if ev := p.m.Last(r.Name); ev != nil {
		row.Health = string(ev.Health.State)
		row.Evaluated = ev.WindowEnd
		row.Summary = ev.Health.Evidence.Summary
	}
	return row
}

func (p monitorPages) list(ctx context.Context) ([]monitorRow, error) {
	var out []monitorRow
	for _, r := range p.m.List() {
		out = append(out, p.row(r))
	}
	return out, nil
}

func (p monitorPages) save(ctx context.Context, f monitorForm, create bool) error {
	s, err := monitor.ParseSpec(f.Name, f.Local, f.Remote, f.Period)
	if err != nil {
		return err
	}
	if create {
		_, err = p.m.Create(ctx, s)
	} else {
		_, err = p.m.Update(ctx, s)
	}
	return err
}

func (p monitorPages) remove(ctx context.Context, name string) error {
	err := p.m.Delete(ctx, name)
	if errors.Is(err, monitor.ErrNotFound) {
		return fmt.Errorf("%w: monitor %q", errNotFound, name)
	}
	return err
}

func (p monitorPages) get(ctx context.Context, name string, since time.Duration) (*monitorDetail, error) {
	r, err := p.m.Get(name)
	if errors.Is(err, monitor.ErrNotFound) {
		return nil, fmt.Errorf("%w: monitor %q", errNotFound, name)
	}
	if err != nil {
		return nil, err
	}
	end := time.Now()
	start := end.Add(-since)
	d := &monitorDetail{monitorRow: p.row(r), WindowStart: start, WindowEnd: end}
	if d.Charts, err = monitorCharts(ctx, p.points, monitor.Namespace, name, start, end); err != nil {
		return nil, err
	}
	if d.Timeline, err = healthTimeline(ctx, p.points, monitor.Namespace, name, start, end); err != nil {
		return nil, err
	}
	if ev := p.m.Last(name); ev != nil {
		d.Evidence = evidenceOf(ev.Health.Evidence)
		for _, metric := range []string{"data_transferred", "retransmissions", "timeouts", "round_trip_time", "failed_connections"} {
			cs, ok := ev.Contributors[metric]
			if !ok {
				continue
			}
			t := contributorTable{Metric: metric}
			for _, c := range cs {
				t.Rows = append(t.Rows, contributorOf(metric, c))
			}
			d.Top = append(d.Top, t)
		}
	}
	return d, nil
}

func contributorOf(metric string, c monitor.Contributor) contributor {
	out := contributor{Host: c.LocalHost, LocalIP: c.LocalIP, RemoteIP: c.RemoteIP, Port: int(c.Port), Category: c.Category,
		Value: metricValueText(metric, c.Value)}
	for _, h := range c.Path {
		out.Path = append(out.Path, pathHop{ID: h.ID, Kind: h.Kind})
	}
	out.PathQuery = "?local=" + url.QueryEscape(c.LocalIP) + "&remote=" + url.QueryEscape(c.RemoteIP) + "&port=" + strconv.Itoa(int(c.Port))
	return out
}

func evidenceOf(e health.Evidence) evidenceView {
	v := evidenceView{Summary: e.Summary, AttributedHost: e.AttributedHost, ActivePairs: e.ActivePairs, AffectedPairs: e.AffectedPairs}
	for _, s := range e.Segments {
		v.Segments = append(v.Segments, segmentView{ID: s.ID, Kind: s.Kind, Degraded: s.Degraded, Score: s.Score,
			ActivePairs: s.ActivePairs, AffectedPairs: s.AffectedPairs, IndependentPairs: s.IndependentPairs,
			RequiredPairs: s.RequiredPairs, BaseRetrans: s.Baseline.RetransmissionRate, NowRetrans: s.Now.RetransmissionRate,
			BaseRTTUS: s.Baseline.RTTUS, NowRTTUS: s.Now.RTTUS, Reason: s.Reason})
	}
	for _, h := range e.Hosts {
		v.Hosts = append(v.Hosts, hostView{Host: h.Host, IP: h.IP, AffectedPairs: h.AffectedPairs, ActivePairs: h.ActivePairs,
			RetransmissionRate: h.RetransmissionRate, RTTUS: h.RTTUS, Reason: h.Reason})
	}
	return v
}

func (p monitorPages) events(ctx context.Context, n int) ([]healthEvent, error) {
	end := time.Now()
	var out []healthEvent
	for _, r := range p.m.List() {
		ev, err := healthChanges(ctx, p.points, monitor.Namespace, r.Name, end.Add(-24*time.Hour), end)
		if err != nil {
			return out, err
		}
		out = append(out, ev...)
	}
	return out, nil
}
