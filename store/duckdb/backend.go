package duckdb

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/store"
)

// OpenBackend opens the embedded store at cfg.Path as the server's whole
// backend: the flow store, its component database and the metric points
// in the same file. The store's metrics are registered with reg when it is
// not nil.
func OpenBackend(cfg Config, log *slog.Logger, reg prometheus.Registerer) (store.Backend, error) {
	st, err := Open(cfg, log)
	if err != nil {
		return store.Backend{}, err
	}
	mp, err := OpenMetricPoints(context.Background(), st)
	if err != nil {
		st.Close()
		return store.Backend{}, fmt.Errorf("open metric points in %s: %w", cfg.Path, err)
	}
	if reg != nil {
		if err := reg.Register(st); err != nil {
			st.Close()
			return store.Backend{}, fmt.Errorf("register store metrics: %w", err)
		}
	}
	return store.Backend{Flows: st, DB: st, Metrics: mp}, nil
}

// Opener is OpenBackend bound to cfg, in the form the server takes
// (server.Config.OpenStore): the server calls it once its data dir is
// ready.
func Opener(cfg Config) func(*slog.Logger, prometheus.Registerer) (store.Backend, error) {
	return func(log *slog.Logger, reg prometheus.Registerer) (store.Backend, error) {
		return OpenBackend(cfg, log, reg)
	}
}
