package web

import (
	"context"
	"net/http"
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
	}
	u.pages.render(w, http.StatusOK, "alarm", d)
}
