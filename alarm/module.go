package alarm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/flowlens/flowlens/internal/httpjson"
	"github.com/flowlens/flowlens/module"
)

// Module runs the engine inside the server and serves its API:
//
//	GET    /api/v1/alarms                 every alarm with its state
//	POST   /api/v1/alarms                 create (409 if the name is taken)
//	GET    /api/v1/alarms/{name}          one alarm
//	PUT    /api/v1/alarms/{name}          create or replace the definition (the state is kept)
//	DELETE /api/v1/alarms/{name}          delete it and its history
//	GET    /api/v1/alarms/{name}/history  state transitions and changes, newest first (?limit=)
type Module struct {
	*Engine
}

var _ module.Module = (*Module)(nil)

// NewModule builds the module; it does nothing until Start.
func NewModule(cfg Config, d Dependencies) (*Module, error) {
	if d.DB == nil || d.Metrics == nil {
		return nil, errors.New("the alarm engine needs the component database and the metric store")
	}
	return &Module{Engine: New(cfg, d)}, nil
}

// Routes mounts the API.
func (m *Module) Routes(mux *http.ServeMux, protect func(http.Handler) http.Handler) {
	h := func(pattern string, fn http.HandlerFunc) { mux.Handle(pattern, protect(fn)) }
	h("GET /api/v1/alarms", m.handleList)
	h("POST /api/v1/alarms", m.handleCreate)
	h("GET /api/v1/alarms/{name}", m.handleGet)
	h("PUT /api/v1/alarms/{name}", m.handlePut)
	h("DELETE /api/v1/alarms/{name}", m.handleDelete)
	h("GET /api/v1/alarms/{name}/history", m.handleHistory)
}

// ListResponse is the body of GET /api/v1/alarms.
type ListResponse struct {
	Alarms []Status `json:"alarms"`
}

// HistoryResponse is the body of GET /api/v1/alarms/{name}/history.
type HistoryResponse struct {
	Alarm   string        `json:"alarm"`
	History []HistoryItem `json:"history"`
}

func (m *Module) handleList(w http.ResponseWriter, r *http.Request) {
	httpjson.Write(w, http.StatusOK, ListResponse{Alarms: m.List()})
}

func (m *Module) handleGet(w http.ResponseWriter, r *http.Request) {
	s, err := m.Get(r.PathValue("name"))
	if err != nil {
		writeErr(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, s)
}

func (m *Module) handleCreate(w http.ResponseWriter, r *http.Request) {
	d, err := decodeDefinition(r.Body)
	if err != nil {
		writeErr(w, err)
		return
	}
	s, err := m.Put(r.Context(), d, true)
	if err != nil {
		writeErr(w, err)
		return
	}
	httpjson.Write(w, http.StatusCreated, s)
}

func (m *Module) handlePut(w http.ResponseWriter, r *http.Request) {
	d, err := decodeDefinition(r.Body)
	if err != nil {
		writeErr(w, err)
		return
	}
	name := r.PathValue("name")
	if d.Name == "" {
		d.Name = name
	}
	if d.Name != name {
		writeErr(w, invalid("name", "%q differs from the name in the path %q", d.Name, name))
		return
	}
	s, err := m.Put(r.Context(), d, false)
	if err != nil {
		writeErr(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, s)
}

func (m *Module) handleDelete(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := m.Delete(r.Context(), name); err != nil {
		writeErr(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]string{"deleted": name})
}

func (m *Module) handleHistory(w http.ResponseWriter, r *http.Request) {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			writeErr(w, invalid("limit", "%q: want 1 to 10000", v))
			return
		}
		limit = n
	}
	name := r.PathValue("name")
	h, err := m.History(r.Context(), name, limit)
	if err != nil {
		writeErr(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, HistoryResponse{Alarm: name, History: h})
}

// decodeDefinition reads one definition, refusing unknown fields so that a
// misspelt field is reported rather than silently defaulted.
func decodeDefinition(body io.Reader) (Definition, error) {
	var d Definition
	dec := json.NewDecoder(io.LimitReader(body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return d, invalid(te.Field, "want a JSON %s", te.Type)
		}
		return d, fmt.Errorf("%w: body: %s", ErrInvalid, strings.TrimPrefix(err.Error(), "json: "))
	}
	return d, nil
}

// writeErr answers err by its kind; a call canceled while the engine
// stops is, like a stopped engine, unavailable.
func writeErr(w http.ResponseWriter, err error) {
	if errors.Is(err, context.Canceled) {
		httpjson.ErrorCode(w, http.StatusServiceUnavailable, err)
		return
	}
	httpjson.Error(w, err)
}
