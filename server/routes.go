package server

import (
	"net/http"
	"time"

	"github.com/flowlens/flowlens/internal/httpjson"
)

// routes mounts the server's own endpoints, then every module's; an
// /api/ path nobody mounted gets a JSON 404.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.Handle("GET /metrics", s.metricsHandler())
	mux.Handle("POST /api/v1/ingest", s.requireIngestToken(s.ingester))
	for _, m := range s.modules {
		m.Routes(mux, s.requireToken)
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		httpjson.ErrorText(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	if !s.ready.Load() {
		httpjson.ErrorText(w, http.StatusServiceUnavailable, "starting")
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"status": "ok", "uptime_seconds": int(time.Since(s.started).Seconds())})
}
