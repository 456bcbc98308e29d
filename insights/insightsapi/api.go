// Package insightsapi is the server module that answers the workload
// insights, topology and agents API over stored flows:
//
//	GET /api/v1/insights/top       top contributors by metric (insights.Request)
//	GET /api/v1/insights/series    the same broken into time steps
//	GET /api/v1/topology           the topology in force
//	GET /api/v1/topology/lookup    where ?ip=ADDR[,ADDR] (repeatable) sits in it
//	GET /api/v1/agents             the agents that have reported
package insightsapi

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/flowlens/flowlens/ingest"
	"github.com/flowlens/flowlens/insights"
	"github.com/flowlens/flowlens/internal/httpjson"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

// queryTimeout bounds one API query.
const queryTimeout = 60 * time.Second

// AgentLister lists the agents that have reported (ingest.Agents).
type AgentLister interface {
	List() []ingest.AgentInfo
}

// Dependencies are what the API reads.
type Dependencies struct {
	Flows    store.FlowQuerier
	Topology func() *topology.Topology
	Agents   AgentLister
}

// Module serves the API; it runs nothing.
type Module struct {
	d Dependencies
}

// New returns the module.
func New(d Dependencies) *Module { return &Module{d: d} }

// Routes mounts the endpoints, every one behind an admin token.
func (m *Module) Routes(mux *http.ServeMux, protect func(http.Handler) http.Handler) {
	h := func(pattern string, fn http.HandlerFunc) { mux.Handle(pattern, protect(fn)) }
	h("GET /api/v1/insights/top", m.handleTop)
	h("GET /api/v1/insights/series", m.handleSeries)
	h("GET /api/v1/topology", m.handleTopology)
	h("GET /api/v1/topology/lookup", m.handleLookup)
	h("GET /api/v1/agents", m.handleAgents)
}

// Start does nothing: the API has no goroutines.
func (m *Module) Start(context.Context) error { return nil }

// Stop does nothing.
func (m *Module) Stop(context.Context) error { return nil }

// topResponse is the body of /api/v1/insights/top.
type topResponse struct {
	Metric   string         `json:"metric"`
	Category string         `json:"category"`
	By       string         `json:"by"`
	Start    time.Time      `json:"start"`
	End      time.Time      `json:"end"`
	Rows     []insights.Row `json:"rows"`
}

func (m *Module) handleTop(w http.ResponseWriter, r *http.Request) {
	req, err := insights.FromValues(r.URL.Query())
	if err != nil {
		httpjson.ErrorText(w, http.StatusBadRequest, err.Error())
		return
	}
	q, err := req.Query(time.Now())
	if err != nil {
		httpjson.ErrorText(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	rows, err := m.d.Flows.Top(ctx, q)
	if err != nil {
		writeQueryError(w, err)
		return
	}
	resp := topResponse{Metric: q.Metric.String(), Category: categoryName(q.Category), By: byName(q.By),
		Start: q.Start.UTC(), End: q.End.UTC(), Rows: make([]insights.Row, len(rows))}
	for i, row := range rows {
		resp.Rows[i] = insights.FromStore(q.Metric, row)
	}
	httpjson.Write(w, http.StatusOK, resp)
}

// seriesResponse is the body of /api/v1/insights/series.
type seriesResponse struct {
	topResponse
	StepSeconds int64                `json:"step_seconds"`
	Series      []insights.SeriesRow `json:"series"`
}

func (m *Module) handleSeries(w http.ResponseWriter, r *http.Request) {
	req, err := insights.FromValues(r.URL.Query())
	if err != nil {
		httpjson.ErrorText(w, http.StatusBadRequest, err.Error())
		return
	}
	q, err := req.SeriesQuery(time.Now())
	if err != nil {
		httpjson.ErrorText(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	series, err := m.d.Flows.Series(ctx, q)
	if err != nil {
		writeQueryError(w, err)
		return
	}
	resp := seriesResponse{
		topResponse: topResponse{Metric: q.Metric.String(), Category: categoryName(q.Category), By: byName(q.By),
			Start: q.Start.UTC(), End: q.End.UTC()},
		StepSeconds: int64(q.Step / time.Second),
		Series:      make([]insights.SeriesRow, len(series)),
	}
	for i, sr := range series {
		out := insights.SeriesRow{Row: insights.FromStore(q.Metric, sr.Row), Points: make([]insights.Point, len(sr.Points))}
		for j, p := range sr.Points {
			out.Points[j] = insights.Point{Time: p.Time.Unix(), Value: p.Value}
		}
		resp.Series[i] = out
	}
	httpjson.Write(w, http.StatusOK, resp)
}

func (m *Module) handleTopology(w http.ResponseWriter, r *http.Request) {
	httpjson.Write(w, http.StatusOK, m.d.Topology())
}

// lookupRow is one answer of /api/v1/topology/lookup.
type lookupRow struct {
	IP       string            `json:"ip"`
	Location topology.Location `json:"location"`
	Resource string            `json:"resource"`
}

func (m *Module) handleLookup(w http.ResponseWriter, r *http.Request) {
	topo := m.d.Topology()
	var out []lookupRow
	for _, arg := range r.URL.Query()["ip"] {
		for _, part := range strings.Split(arg, ",") {
			ip, err := netip.ParseAddr(strings.TrimSpace(part))
			if err != nil {
				httpjson.ErrorText(w, http.StatusBadRequest, "ip "+part+": not an IP address")
				return
			}
			loc := topo.Lookup(ip.Unmap())
			out = append(out, lookupRow{IP: ip.String(), Location: loc, Resource: insights.RemoteResource(loc)})
		}
	}
	if len(out) == 0 {
		httpjson.ErrorText(w, http.StatusBadRequest, "give at least one ?ip=")
		return
	}
	httpjson.Write(w, http.StatusOK, out)
}

func (m *Module) handleAgents(w http.ResponseWriter, r *http.Request) {
	httpjson.Write(w, http.StatusOK, m.d.Agents.List())
}

func categoryName(c *topology.Category) string {
	if c == nil {
		return "all"
	}
	return c.String()
}

func byName(b store.Grouping) string {
	if b == store.ByFlow {
		return "flow"
	}
	return "resource"
}

// writeQueryError tells the caller's mistakes (400) from the store's (500).
func writeQueryError(w http.ResponseWriter, err error) {
	if errors.Is(err, store.ErrInvalidQuery) {
		httpjson.ErrorText(w, http.StatusBadRequest, err.Error())
		return
	}
	httpjson.ErrorText(w, http.StatusInternalServerError, "query: "+err.Error())
}
