package web

import (
	"context"
	"net/http"
	"strings"
	"time"
)

func (u *UI) internetRoutes(mux *http.ServeMux) {
	mux.Handle("GET /internet", u.page("internet", u.handleInternet))
}

// mapPoint is one city-network on the SVG map (equirectangular: x = lon +
// 180, y = 90 - lat, in a 360x180 viewBox).
type mapPoint struct {
	X, Y, R float64
	Class   string
	Label   string
}

type internetData struct {
	base
	Available bool
	Monitors  []string
	Monitor   string
	Since     string
	Ranges    []string
	Networks  []cityNetwork
	Points    []mapPoint
	Events    []internetEvent
	Err       string
}

// internetRanges are the page's time ranges.
var internetRanges = []string{"15m", "1h", "6h", "24h"}

func (u *UI) handleInternet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := internetData{base: baseFor(r, "Internet", "internet"), Available: u.mods.internet != nil,
		Monitor: q.Get("monitor"), Since: q.Get("since"), Ranges: internetRanges}
	if d.Since == "" {
		d.Since = "1h"
	}
	if !d.Available {
		u.pages.render(w, http.StatusOK, "internet", d)
		return
	}
	since, err := time.ParseDuration(d.Since)
	if err != nil {
		http.Error(w, "since: "+err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	d.Monitors = u.mods.internet.monitors()
	if d.Monitor == "" && len(d.Monitors) > 0 {
		d.Monitor = d.Monitors[0]
	}
	if d.Monitor != "" {
		end := time.Now()
		if d.Networks, err = u.mods.internet.locations(ctx, d.Monitor, end.Add(-since), end); err != nil {
			d.Err = err.Error()
		}
	}
	events, err := u.mods.internet.events(ctx)
	if err != nil && d.Err == "" {
		d.Err = err.Error()
	}
	for _, e := range events {
		if d.Monitor == "" || e.Monitor == d.Monitor {
			d.Events = append(d.Events, e)
		}
	}
	d.Points = mapPoints(d.Networks)
	if len(d.Networks) > 500 {
		d.Networks = d.Networks[:500]
	}
	u.pages.render(w, http.StatusOK, "internet", d)
}

// mapPoints places city-networks with known coordinates; the radius grows
// with the traffic share, the colour follows the worse of the two scores.
func mapPoints(nets []cityNetwork) []mapPoint {
	var out []mapPoint
	for _, n := range nets {
		if n.Lat == 0 && n.Lon == 0 {
			continue
		}
		cls := "ok"
		switch score := min(n.Performance, n.Availability); {
		case score < 60:
			cls = "bad"
		case score < 95:
			cls = "warn"
		}
		r := 0.8 + 6*n.Share
		if r > 5 {
			r = 5
		}
		out = append(out, mapPoint{X: n.Lon + 180, Y: 90 - n.Lat, R: r, Class: cls,
			Label: strings.TrimSpace(n.City + " " + n.Network)})
	}
	return out
}
