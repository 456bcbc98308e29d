package internet

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/flowlens/flowlens/internal/apierr"
	"github.com/flowlens/flowlens/internal/httpjson"
)

// Routes mounts the API under /api/v1/internet/.
//
//	GET    /api/v1/internet/monitors               list
//	POST   /api/v1/internet/monitors               create (a Monitor as JSON)
//	GET    /api/v1/internet/monitors/{name}        one
//	DELETE /api/v1/internet/monitors/{name}        delete (history stays)
//	GET    /api/v1/internet/measurements?monitor=M&start=&end=&filter=asn=64500&limit=
//	GET    /api/v1/internet/top-locations?monitor=M&start=&end=&filter=...
//	GET    /api/v1/internet/overall?monitor=M&start=&end=
//	GET    /api/v1/internet/events?monitor=&status=ACTIVE&start=&end=&filter=...
//
// start and end are RFC 3339 times or durations before now ("1h"); the
// default range is the last hour (events: all).
func (m *Module) Routes(mux *http.ServeMux, protect func(http.Handler) http.Handler) {
	h := func(pattern string, fn http.HandlerFunc) { mux.Handle(pattern, protect(fn)) }
	h("GET /api/v1/internet/monitors", m.listMonitors)
	h("POST /api/v1/internet/monitors", m.createMonitor)
	h("GET /api/v1/internet/monitors/{name}", m.getMonitor)
	h("DELETE /api/v1/internet/monitors/{name}", m.deleteMonitor)
	h("GET /api/v1/internet/measurements", m.listMeasurements)
	h("GET /api/v1/internet/top-locations", m.listTopLocations)
	h("GET /api/v1/internet/overall", m.listOverall)
	h("GET /api/v1/internet/events", m.listEvents)
}

var errBadQuery = apierr.Invalid("bad query")

func (m *Module) listMonitors(w http.ResponseWriter, _ *http.Request) {
	httpjson.WriteCompact(w, http.StatusOK, m.Monitors())
}

func (m *Module) getMonitor(w http.ResponseWriter, r *http.Request) {
	mon, err := m.Monitor(r.PathValue("name"))
	if err != nil {
		httpjson.Error(w, err)
		return
	}
	httpjson.WriteCompact(w, http.StatusOK, mon)
}

func (m *Module) createMonitor(w http.ResponseWriter, r *http.Request) {
	var mon Monitor
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&mon); err != nil {
		httpjson.Error(w, fmt.Errorf("%w: body: %v", ErrInvalid, err))
		return
	}
	created, err := m.CreateMonitor(r.Context(), mon)
	if err != nil {
		httpjson.Error(w, err)
		return
	}
	httpjson.WriteCompact(w, http.StatusCreated, created)
}

func (m *Module) deleteMonitor(w http.ResponseWriter, r *http.Request) {
	if err := m.DeleteMonitor(r.Context(), r.PathValue("name")); err != nil {
		httpjson.Error(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// rangeOf reads start and end; def is how far back start goes by default.
func (m *Module) rangeOf(q url.Values, def time.Duration) (time.Time, time.Time, error) {
	now := m.cfg.Now()
	end, err := parseTime(q.Get("end"), now, now.Add(time.Hour))
	if err != nil {
		return end, end, fmt.Errorf("%w: end: %v", errBadQuery, err)
	}
	var start time.Time
	if def > 0 {
		start = now.Add(-def)
	}
	start, err = parseTime(q.Get("start"), now, start)
	if err != nil {
		return start, end, fmt.Errorf("%w: start: %v", errBadQuery, err)
	}
	if !start.Before(end) {
		return start, end, fmt.Errorf("%w: start %s is not before end %s", errBadQuery, start.Format(time.RFC3339), end.Format(time.RFC3339))
	}
	return start, end, nil
}

// parseTime reads RFC 3339, or a duration meaning that long before now.
func parseTime(s string, now, def time.Time) (time.Time, error) {
	if s == "" {
		return def, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(strings.TrimPrefix(s, "-"))
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration like 1h", s)
	}
	return now.Add(-d), nil
}

func (m *Module) measurementQuery(r *http.Request) (MeasurementQuery, error) {
	q := r.URL.Query()
	mq := MeasurementQuery{Monitor: q.Get("monitor")}
	if mq.Monitor == "" {
		mons := m.Monitors()
		if len(mons) != 1 {
			return mq, fmt.Errorf("%w: monitor is required (there are %d monitors)", errBadQuery, len(mons))
		}
		mq.Monitor = mons[0].Name
	}
	if _, err := m.Monitor(mq.Monitor); err != nil {
		return mq, err
	}
	var err error
	if mq.Start, mq.End, err = m.rangeOf(q, time.Hour); err != nil {
		return mq, err
	}
	if mq.Filters, err = ParseFilters(q["filter"]); err != nil {
		return mq, fmt.Errorf("%w: %v", errBadQuery, err)
	}
	if l := q.Get("limit"); l != "" {
		if mq.Limit, err = strconv.Atoi(l); err != nil || mq.Limit < 1 {
			return mq, fmt.Errorf("%w: limit %q is not a positive number", errBadQuery, l)
		}
	}
	return mq, nil
}

func (m *Module) listMeasurements(w http.ResponseWriter, r *http.Request) {
	q, err := m.measurementQuery(r)
	if err != nil {
		httpjson.Error(w, err)
		return
	}
	out, err := m.Measurements(r.Context(), q)
	if err != nil {
		httpjson.Error(w, err)
		return
	}
	httpjson.WriteCompact(w, http.StatusOK, out)
}

func (m *Module) listTopLocations(w http.ResponseWriter, r *http.Request) {
	q, err := m.measurementQuery(r)
	if err != nil {
		httpjson.Error(w, err)
		return
	}
	if q.Limit == 0 {
		q.Limit = 50
	}
	out, err := m.TopLocations(r.Context(), q)
	if err != nil {
		httpjson.Error(w, err)
		return
	}
	httpjson.WriteCompact(w, http.StatusOK, out)
}

func (m *Module) listOverall(w http.ResponseWriter, r *http.Request) {
	q, err := m.measurementQuery(r)
	if err != nil {
		httpjson.Error(w, err)
		return
	}
	out, err := m.OverallSeries(r.Context(), q.Monitor, q.Start, q.End)
	if err != nil {
		httpjson.Error(w, err)
		return
	}
	httpjson.WriteCompact(w, http.StatusOK, out)
}

func (m *Module) listEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	eq := EventQuery{Monitor: q.Get("monitor"), Status: strings.ToUpper(q.Get("status"))}
	if eq.Status != "" && eq.Status != StatusActive && eq.Status != StatusResolved {
		httpjson.Error(w, fmt.Errorf("%w: status %q (want ACTIVE or RESOLVED)", errBadQuery, q.Get("status")))
		return
	}
	var err error
	if eq.Start, eq.End, err = m.rangeOf(q, 0); err != nil {
		httpjson.Error(w, err)
		return
	}
	if q.Get("end") == "" {
		eq.End = time.Unix(1<<40, 0) // events: everything unless bounded
	}
	if eq.Filters, err = ParseFilters(q["filter"]); err != nil {
		httpjson.Error(w, fmt.Errorf("%w: %v", errBadQuery, err))
		return
	}
	out, err := m.Events(r.Context(), eq)
	if err != nil {
		httpjson.Error(w, err)
		return
	}
	httpjson.WriteCompact(w, http.StatusOK, out)
}
