package web

import (
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/flowlens/flowlens/ingest"
)

// Agent freshness: an agent that has not reported for staleAfter is shown
// as stale, after silentAfter as silent. Agents report every 5-60 s.
const (
	staleAfter  = 2 * time.Minute
	silentAfter = 10 * time.Minute
)

type agentRow struct {
	ingest.AgentInfo
	State string // REPORTING, STALE, SILENT
}

func agentRows(list []ingest.AgentInfo, now time.Time) []agentRow {
	out := make([]agentRow, len(list))
	for i, a := range list {
		st := "REPORTING"
		switch age := now.Sub(a.LastSeen); {
		case age > silentAfter:
			st = "SILENT"
		case age > staleAfter:
			st = "STALE"
		}
		out[i] = agentRow{AgentInfo: a, State: st}
	}
	return out
}

type overviewData struct {
	base
	Features        features
	Monitors        []monitorRow
	MonitorsErr     string
	Alarms          []alarmRow // active (ALARM) first
	AlarmsErr       string
	Events          []healthEvent
	EventsErr       string
	AgentsTotal     int
	AgentsReporting int
	AgentsLate      []agentRow
	Rate            ratePoint
	RateChart       chartData
}

func (u *UI) handleOverview(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	d := overviewData{base: baseFor(r, "Overview", "overview"), Features: u.mods.features()}
	if u.mods.monitors != nil {
		var err error
		d.Monitors, err = u.mods.monitors.list(ctx)
		d.MonitorsErr = errText(err)
	}
	if u.mods.alarms != nil {
		all, err := u.mods.alarms.list(ctx)
		d.AlarmsErr = errText(err)
		for _, a := range all {
			if a.State != "OK" {
				d.Alarms = append(d.Alarms, a)
			}
		}
	}
	d.Events, d.EventsErr = u.healthEvents(ctx)
	u.agentSummary(&d)
	d.Rate = u.rate.recent(6)
	d.RateChart = u.rateChart()
	u.pages.render(w, http.StatusOK, "overview", d)
}

// healthEvents merges the monitors' recent health changes and the internet
// monitor's events, newest first.
func (u *UI) healthEvents(ctx context.Context) ([]healthEvent, string) {
	var out []healthEvent
	var errs []string
	if u.mods.monitors != nil {
		ev, err := u.mods.monitors.events(ctx, 20)
		out = append(out, ev...)
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	if u.mods.internet != nil {
		ev, err := u.mods.internet.events(ctx)
		for _, e := range ev {
			out = append(out, e.healthEvent())
		}
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	if len(out) > 20 {
		out = out[:20]
	}
	if len(errs) > 0 {
		return out, errs[0]
	}
	return out, ""
}

func (u *UI) agentSummary(d *overviewData) {
	if u.deps.Agents == nil {
		return
	}
	rows := agentRows(u.deps.Agents.List(), time.Now())
	d.AgentsTotal = len(rows)
	for _, a := range rows {
		if a.State == "REPORTING" {
			d.AgentsReporting++
		} else if len(d.AgentsLate) < 10 {
			d.AgentsLate = append(d.AgentsLate, a)
		}
	}
}

func (u *UI) rateChart() chartData {
	s := u.rate.series()
	// Start at the first stored flow, so that a fresh server's chart is
	// not a long flat line.
	for len(s) > 1 && s[0].FlowsPerSecond == 0 {
		s = s[1:]
	}
	now := time.Now()
	c := chartData{Title: "Flows stored per second (last 30 minutes)", YLabel: "flows/s",
		XMin: now.Add(-30 * time.Minute).Unix(), XMax: now.Unix(),
		X: make([]int64, len(s)), Series: []chartSeries{{Label: "flows/s", Values: make([]*float64, len(s))}}}
	for i, p := range s {
		c.X[i] = p.Time.Unix()
		v := p.FlowsPerSecond
		c.Series[0].Values[i] = &v
	}
	return c
}

// healthEvent is one line of the overview's health timeline.
type healthEvent struct {
	Time    time.Time
	Source  string // monitor or internet
	Subject string // monitor name, city-network
	State   string
	Detail  string
	Href    string
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// pageTimeout bounds the work behind one page.
const pageTimeout = 20 * time.Second
