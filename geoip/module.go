package geoip

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/enrich"
	"github.com/flowlens/flowlens/module"
)

// Module runs the databases inside the server: it enriches internet flows
// at ingest and answers GET /api/v1/internet/geoip?ip=ADDR. The internet
// monitor takes its DB.
type Module struct {
	DB *DB
}

var _ module.Module = (*Module)(nil)

// Dependencies are what the module uses of the server.
type Dependencies struct {
	Log      *slog.Logger
	Registry prometheus.Registerer
	// Enrich registers the enrichment provider that completes every
	// internet flow's remote end before it is stored (nil: no enrichment).
	Enrich func(p enrich.Provider) error
}

// NewModule opens the configured databases and, when there are any,
// registers their provider with ingest.
func NewModule(cfg Config, d Dependencies) (*Module, error) {
	db, err := New(cfg, d.Log, d.Registry)
	if err != nil {
		return nil, err
	}
	if db.Configured() && d.Enrich != nil {
		if err := d.Enrich(db.Provider()); err != nil {
			return nil, err
		}
	}
	return &Module{DB: db}, nil
}

// Routes mounts the lookup endpoint.
func (m *Module) Routes(mux *http.ServeMux, protect func(http.Handler) http.Handler) {
	mux.Handle("GET /api/v1/internet/geoip", protect(http.HandlerFunc(m.lookup)))
}

func (m *Module) lookup(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	ip, err := netip.ParseAddr(r.URL.Query().Get("ip"))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": "ip: want an IPv4 or IPv6 address"})
		return
	}
	json.NewEncoder(w).Encode(struct {
		IP string `json:"ip"`
		Info
		// Unresolved says why the address has no network ("private
		// range", "no database", "not in database").
		Unresolved string `json:"unresolved,omitempty"`
	}{ip.String(), m.DB.Lookup(ip), m.DB.Unresolved(ip)})
}

// Start polls the files for replacement.
func (m *Module) Start(context.Context) error {
	if m.DB.Configured() {
		m.DB.Start()
	}
	return nil
}

// Stop ends polling.
func (m *Module) Stop(ctx context.Context) error { return m.DB.Stop(ctx) }
