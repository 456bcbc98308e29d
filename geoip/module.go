package geoip

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"

	"github.com/flowlens/flowlens/server"
)

// ModuleName is the geoip module's name in server.Deps.Modules.
const ModuleName = "geoip"

// Module runs the databases inside the server: it enriches internet flows
// at ingest and answers GET /api/v1/internet/geoip?ip=ADDR.
type Module struct {
	DB *DB
}

// Factory builds the module from cfg; put it before the internet module.
func Factory(cfg Config) server.ModuleFactory {
	return server.ModuleFactory{Name: ModuleName, New: func(d *server.Deps) (server.Module, error) {
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
	}}
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
	}{ip.String(), m.DB.Lookup(ip)})
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
