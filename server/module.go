package server

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/enrich"
	"github.com/flowlens/flowlens/ingest"
	"github.com/flowlens/flowlens/metricstore"
	"github.com/flowlens/flowlens/module"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

// Host is what the server shares with the modules it runs. Config.Modules
// receives it once the store is open and builds the modules from it, each
// taking only the parts it declares in its own Dependencies.
type Host struct {
	Log      *slog.Logger // the server's; Common tags it per module
	Registry prometheus.Registerer
	DataDir  string
	// Flows answers insights over stored flows.
	Flows store.Store
	// DB is the component database; modules keep their own tables in it
	// (DB.MigrateComponent, DB.DB), never in the flow tables.
	DB store.ComponentDB
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
}

// Common is the part of h every module takes, with the log tagged with
// the module's name.
func (h *Host) Common(name string) module.Common {
	return module.Common{Log: h.Log.With("module", name), Registry: h.Registry, DataDir: h.DataDir}
}

// buildModules has the configured builder create the modules, in start
// order.
func (s *Server) buildModules(be store.Backend) error {
	if s.cfg.Modules == nil {
		return nil
	}
	h := &Host{Log: s.log, Registry: s.registry, DataDir: s.cfg.DataDir, Flows: be.Flows, DB: be.DB,
		Metrics: be.Metrics, Topology: s.topology.Load, SubscribeFlows: s.ingester.Subscribe,
		Enrich: s.ingester.Enrich, Agents: s.agents}
	mods, err := s.cfg.Modules(h)
	if err != nil {
		return fmt.Errorf("build modules: %w", err)
	}
	if err := module.Check(mods); err != nil {
		return fmt.Errorf("build modules: %w", err)
	}
	s.modules = mods
	return nil
}
