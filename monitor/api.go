package monitor

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/flowlens/flowlens/health"
	"github.com/flowlens/flowlens/internal/httpjson"
)

// Request is the body of POST /api/v1/monitors and PUT /api/v1/monitors/{name}.
type Request struct {
	Name   string   `json:"name"`
	Local  []string `json:"local"`
	Remote []string `json:"remote,omitempty"` // empty or ["everywhere"]: everywhere
	// Period is a duration ("60s", "5m"); PeriodSeconds the same in
	// seconds. Default 60 s, minimum 10 s.
	Period        string `json:"period,omitempty"`
	PeriodSeconds int    `json:"period_seconds,omitempty"`
}

// Spec validates the request's form (not the resources' existence).
func (r *Request) Spec() (Spec, error) {
	period := r.Period
	if period == "" && r.PeriodSeconds != 0 {
		period = strconv.Itoa(r.PeriodSeconds) + "s"
	}
	return ParseSpec(r.Name, r.Local, r.Remote, period)
}

// View is a monitor as the API shows it: its definition, status and the
// latest evaluation (health with evidence, metrics, top contributors).
type View struct {
	Name          string    `json:"name"`
	Local         []string  `json:"local"`
	Remote        []string  `json:"remote"` // empty: everywhere
	PeriodSeconds int       `json:"period_seconds"`
	Source        string    `json:"source"`
	Status        string    `json:"status"`
	StatusMessage string    `json:"status_message,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	// Health is the latest window's indicator; UNKNOWN before the first.
	Health       health.Health            `json:"health"`
	WindowStart  *time.Time               `json:"window_start,omitempty"`
	WindowEnd    *time.Time               `json:"window_end,omitempty"`
	Metrics      *Metrics                 `json:"metrics,omitempty"`
	Contributors map[string][]Contributor `json:"contributors,omitempty"`
}

// NewView combines a monitor and its latest evaluation (nil: none yet).
func NewView(r Record, ev *Evaluation, withContributors bool) View {
	v := View{Name: r.Name, Local: resourceStrings(r.Local), Remote: resourceStrings(r.Remote),
		PeriodSeconds: int(r.Period / time.Second), Source: r.Source, Status: r.Status,
		StatusMessage: r.StatusMessage, CreatedAt: r.Created, UpdatedAt: r.Updated}
	if ev == nil {
		v.Health = health.Health{State: health.Unknown,
			Evidence: health.Evidence{Summary: "not evaluated yet", Segments: []health.SegmentEvidence{}}}
		return v
	}
	v.Health = ev.Health
	v.WindowStart, v.WindowEnd = &ev.WindowStart, &ev.WindowEnd
	v.Metrics = &ev.Metrics
	if withContributors {
		v.Contributors = ev.Contributors
	}
	return v
}

// Routes mounts /api/v1/monitors.
func (m *Module) Routes(mux *http.ServeMux, protect func(http.Handler) http.Handler) {
	h := func(f http.HandlerFunc) http.Handler { return protect(f) }
	mux.Handle("GET /api/v1/monitors", h(m.handleList))
	mux.Handle("POST /api/v1/monitors", h(m.handleCreate))
	mux.Handle("GET /api/v1/monitors/{name}", h(m.handleGet))
	mux.Handle("PUT /api/v1/monitors/{name}", h(m.handleUpdate))
	mux.Handle("DELETE /api/v1/monitors/{name}", h(m.handleDelete))
	mux.Handle("GET /api/v1/monitors/{name}/evaluations", h(m.handleEvaluations))
}

func (m *Module) handleList(w http.ResponseWriter, r *http.Request) {
	recs := m.List()
	out := struct {
		Monitors []View `json:"monitors"`
	}{Monitors: make([]View, len(recs))}
	for i, rec := range recs {
		out.Monitors[i] = NewView(rec, m.Last(rec.Name), false)
	}
	httpjson.Write(w, http.StatusOK, out)
}

func (m *Module) handleGet(w http.ResponseWriter, r *http.Request) {
	rec, err := m.Get(r.PathValue("name"))
	if err != nil {
		httpjson.Error(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, NewView(rec, m.Last(rec.Name), true))
}

func (m *Module) handleCreate(w http.ResponseWriter, r *http.Request) {
	spec, err := decodeRequest(r, "")
	if err != nil {
		httpjson.Error(w, err)
		return
	}
	rec, err := m.Create(r.Context(), spec)
	if err != nil {
		httpjson.Error(w, err)
		return
	}
	httpjson.Write(w, http.StatusCreated, NewView(rec, nil, false))
}

func (m *Module) handleUpdate(w http.ResponseWriter, r *http.Request) {
	spec, err := decodeRequest(r, r.PathValue("name"))
	if err != nil {
		httpjson.Error(w, err)
		return
	}
	rec, err := m.Update(r.Context(), spec)
	if err != nil {
		httpjson.Error(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, NewView(rec, m.Last(rec.Name), false))
}

func (m *Module) handleDelete(w http.ResponseWriter, r *http.Request) {
	if err := m.Delete(r.Context(), r.PathValue("name")); err != nil {
		httpjson.Error(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (m *Module) handleEvaluations(w http.ResponseWriter, r *http.Request) {
	limit := 20
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			httpjson.Error(w, fmt.Errorf("%w: limit %q: want 1-1000", ErrInvalid, s))
			return
		}
		limit = n
	}
	evs, err := m.Evaluations(r.Context(), r.PathValue("name"), limit)
	if err != nil {
		httpjson.Error(w, err)
		return
	}
	if evs == nil {
		evs = []*Evaluation{}
	}
	httpjson.Write(w, http.StatusOK, struct {
		Evaluations []*Evaluation `json:"evaluations"`
	}{evs})
}

// maxBody bounds a monitor definition.
const maxBody = 1 << 20

func decodeRequest(r *http.Request, pathName string) (Spec, error) {
	var req Request
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return Spec{}, fmt.Errorf("%w: body: %v", ErrInvalid, err)
	}
	if pathName != "" {
		if req.Name != "" && req.Name != pathName {
			return Spec{}, fmt.Errorf("%w: name %q in the body differs from %q in the path (monitors cannot be renamed)", ErrInvalid, req.Name, pathName)
		}
		req.Name = pathName
	}
	return req.Spec()
}
