package web

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/flowlens/flowlens/metricstore"
)

func (u *UI) alarmRoutes(mux *http.ServeMux) {
	mux.Handle("GET /alarms", u.page("alarms", u.handleAlarms))
	mux.Handle("GET /alarms/{name}", u.page("alarm", u.handleAlarm))
}

type alarmsData struct {
	base
	Available bool
	Alarms    []alarmRow
	Err       string
}

func (u *UI) handleAlarms(w http.ResponseWriter, r *http.Request) {
	d := alarmsData{base: baseFor(r, "Alarms", "alarms"), Available: u.mods.alarms != nil}
	if d.Available {
		ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
		defer cancel()
		var err error
		d.Alarms, err = u.mods.alarms.list(ctx)
		d.Err = errText(err)
	}
	u.pages.render(w, http.StatusOK, "alarms", d)
}

type alarmData struct {
	base
	Available bool
	Alarm     alarmRow
	History   []alarmTransition
	Chart     *chartData
	Err       string
}

func (u *UI) handleAlarm(w http.ResponseWriter, r *http.Request) {
	d := alarmData{base: baseFor(r, "Alarm "+r.PathValue("name"), "alarms"), Available: u.mods.alarms != nil}
	if d.Available {
		ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
		defer cancel()
		var err error
		if d.Alarm, d.History, err = u.mods.alarms.history(ctx, r.PathValue("name")); err != nil {
			u.notFound(w, r, "alarms", err)
			return
		}
		if u.deps.Metrics != nil {
			end := time.Now()
			d.Chart, err = alarmChart(ctx, u.deps.Metrics, d.Alarm, end.Add(-3*time.Hour), end)
			d.Err = errText(err)
		}
	}
	u.pages.render(w, http.StatusOK, "alarm", d)
}

// alarmChart draws the watched metric over [start, end) with the
// threshold as a second line; nil when the metric has no points.
func alarmChart(ctx context.Context, ms metricstore.Store, a alarmRow, start, end time.Time) (*chartData, error) {
	pts, err := ms.Query(ctx, metricstore.Query{ID: a.Series, Start: start, End: end})
	if err != nil {
		return nil, fmt.Errorf("alarm %s: %w", a.Name, err)
	}
	if len(pts) == 0 {
		return nil, nil
	}
	sort.Slice(pts, func(i, j int) bool { return pts[i].Time.Before(pts[j].Time) })
	c := &chartData{Title: a.Series.Metric + " (last 3 hours) and the threshold", YLabel: a.Series.Metric,
		XMin: start.Unix(), XMax: end.Unix()}
	val := chartSeries{Label: a.Series.Metric}
	thr := chartSeries{Label: "threshold"}
	for _, p := range pts {
		v, t := p.Value, a.Threshold
		c.X = append(c.X, p.Time.Unix())
		val.Values = append(val.Values, &v)
		thr.Values = append(thr.Values, &t)
	}
	c.Series = []chartSeries{val, thr}
	return c, nil
}
