package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/enrich"
	"github.com/flowlens/flowlens/ingest"
	"github.com/flowlens/flowlens/metricstore"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/store/duckdb"
	"github.com/flowlens/flowlens/topology"
)

// Module is a feature that runs inside the server (monitors, alarms, flow
// logs, the internet monitor, the web UI). The server builds modules after
// it has opened the store, mounts their routes, starts them in order and
// stops them in reverse order before it closes the store.
type Module interface {
	// Routes mounts the module's endpoints. protect wraps a handler so
	// that it requires the API token.
	Routes(mux *http.ServeMux, protect func(http.Handler) http.Handler)
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// ModuleFactory builds one module from the server's shared parts.
type ModuleFactory struct {
	Name string // short, for logs and Deps.Modules
	New  func(d *Deps) (Module, error)
}

// Deps are the server's shared parts a module may use.
type Deps struct {
	Log      *slog.Logger // already tagged with the module's name
	Registry prometheus.Registerer
	DataDir  string
	// Flows answers insights over stored flows.
	Flows store.Store
	// DB is the embedded DuckDB file; modules keep their own tables in it
	// (DB.MigrateComponent, DB.DB), never in the flow tables.
	DB *duckdb.Store
	// Metrics keeps metric points (monitors, metric filters, internet
	// scores) that alarms evaluate.
	Metrics metricstore.Store
	// Topology returns the current topology.
	Topology func() *topology.Topology
	// SubscribeFlows registers fn, under a unique name, to receive every
	// newly stored flow batch, enriched, after its commit, on its own
	// goroutine behind a bounded queue (see ingest.Ingester.Subscribe).
	SubscribeFlows func(name string, fn func(stored []*store.Batch)) error
	// Enrich registers an enrichment provider that completes both ends of
	// every flow before it is stored (see package enrich).
	// Only valid while modules are being built.
	Enrich func(p enrich.Provider) error
	// Agents is the registry of agents that have reported.
	Agents *ingest.Agents
	// Modules holds the modules built before this one, by name, so that a
	// later module (the web UI) can reach an earlier one's Go API.
	Modules map[string]Module
}

// buildModules creates the configured modules in order.
func (s *Server) buildModules(st *duckdb.Store, ms metricstore.Store) error {
	d := Deps{Registry: s.registry, DataDir: s.cfg.DataDir, Flows: st, DB: st, Metrics: ms,
		Topology: s.topology.Load, SubscribeFlows: s.ingester.Subscribe,
		Enrich: s.ingester.Enrich, Agents: s.agents,
		Modules: map[string]Module{}}
	for _, f := range s.cfg.Modules {
		md := d
		md.Log = s.log.With("module", f.Name)
		m, err := f.New(&md)
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		d.Modules[f.Name] = m
		s.modules = append(s.modules, namedModule{f.Name, m})
	}
	return nil
}

type namedModule struct {
	name string
	Module
}

// startModules starts modules in order; on failure it stops those started.
func (s *Server) startModules(ctx context.Context) error {
	for i, m := range s.modules {
		if err := m.Start(ctx); err != nil {
			for j := i - 1; j >= 0; j-- {
				s.modules[j].Stop(ctx) //nolint:errcheck // already failing
			}
			return fmt.Errorf("start %s: %w", m.name, err)
		}
	}
	return nil
}

// stopModules stops modules in reverse order.
func (s *Server) stopModules(ctx context.Context) error {
	var err error
	for i := len(s.modules) - 1; i >= 0; i-- {
		if e := s.modules[i].Stop(ctx); e != nil {
			err = errors.Join(err, fmt.Errorf("stop %s: %w", s.modules[i].name, e))
		}
	}
	return err
}
