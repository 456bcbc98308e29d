package web

import (
	"context"
	"net/http"
	"sort"
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
	Networks  []cityNetwork
	Points    []mapPoint
	Events    []internetEvent
	Err       string
}

func (u *UI) handleInternet(w http.ResponseWriter, r *http.Request) {
	d := internetData{base: baseFor(r, "Internet", "internet"), Available: u.mods.internet != nil}
	if d.Available {
		ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
		defer cancel()
		var err error
		if d.Networks, err = u.mods.internet.measurements(ctx); err != nil {
			d.Err = err.Error()
		}
		if d.Events, err = u.mods.internet.events(ctx); err != nil && d.Err == "" {
			d.Err = err.Error()
		}
		sort.SliceStable(d.Networks, func(i, j int) bool { return d.Networks[i].Bytes > d.Networks[j].Bytes })
		d.Points = mapPoints(d.Networks)
		if len(d.Networks) > 500 {
			d.Networks = d.Networks[:500]
		}
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
			Label: n.City + " AS" + itoa(int(n.ASN))})
	}
	return out
}
