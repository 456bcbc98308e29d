// Package server runs the FlowLens server: listening (TLS, connection and
// body limits), admin and agent tokens, the ingest endpoint, /metrics,
// /healthz, pprof, the store's maintenance loop and the modules'
// lifecycle. It opens no store itself (Config.OpenStore does, chosen by
// the command) and knows no feature: Config.Modules builds them.
package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // served only on --debug-listen
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flowlens/flowlens/ingest"
	"github.com/flowlens/flowlens/internal/httpjson"
	"github.com/flowlens/flowlens/metricstore"
	"github.com/flowlens/flowlens/module"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

// Config is everything `flowlens server` is told.
type Config struct {
	DataDir      string
	Listen       string   // default 127.0.0.1:8080
	TopologyPath string   // optional YAML topology
	Tokens       []string // admin tokens: the whole API
	// AgentTokens may only POST /api/v1/ingest, each for the agent ids
	// matching its glob (--agent-tokens-file).
	AgentTokens   []AgentToken
	TLSCert       string
	TLSKey        string
	Ingest        ingest.Config
	MaintainEvery time.Duration // retention and roll-up compaction, default 1m
	// DebugListen, if set, serves Go's pprof profiles there (keep it on
	// loopback).
	DebugListen string
	// OpenStore opens the storage once the data dir is ready (required).
	// cmd/flowlens builds it from --store; the server closes the backend
	// (Flows.Close) when it stops.
	OpenStore func(log *slog.Logger, reg prometheus.Registerer) (store.Backend, error)
	// Modules builds the features run inside the server (APIs, monitors,
	// alarms, flow logs, internet, web UI) from the server's shared parts,
	// in start order: each after the modules it needs. Nil: none.
	Modules func(h *Host) ([]module.Named, error)
	// MetricRetention is how long metric points are kept (default 400 days).
	MetricRetention time.Duration
	// Limits bound connections and slow clients (server/limits.go).
	Limits Limits
}

// DefaultListen keeps a fresh install off the network.
const DefaultListen = "127.0.0.1:8080"

// TokenFile is where a generated token is kept inside the data dir.
const TokenFile = "token"

// Server is one running FlowLens server.
type Server struct {
	cfg         Config
	log         *slog.Logger
	registry    *prometheus.Registry
	topology    atomic.Pointer[topology.Topology]
	agents      *ingest.Agents
	store       store.Store
	ingester    *ingest.Ingester
	metrics     metricstore.Store
	modules     []module.Named
	http        *http.Server
	listener    net.Listener
	tokens      [][]byte     // admin tokens, as configured
	creds       []credential // admin and agent tokens, hashed
	authRefused *prometheus.CounterVec
	ready       atomic.Bool
	started     time.Time
	stopOnce    sync.Once
	stopped     chan struct{}
	serveErr    chan error
}

// New validates the configuration; Start does the work.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("--data-dir is required")
	}
	if cfg.OpenStore == nil {
		return nil, errors.New("no store: Config.OpenStore is required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	if cfg.MaintainEvery <= 0 {
		cfg.MaintainEvery = time.Minute
	}
	if cfg.MetricRetention <= 0 {
		cfg.MetricRetention = 400 * 24 * time.Hour
	}
	return &Server{cfg: cfg, log: log, registry: prometheus.NewRegistry(), agents: ingest.NewAgentsWith(cfg.Ingest.Agents),
		stopped: make(chan struct{}), serveErr: make(chan error, 1)}, nil
}

// Start prepares the data dir, loads the topology, opens the store, builds
// and starts the modules and starts serving. It returns
// once the listener is bound; /healthz answers 200 from then on.
func (s *Server) Start() error {
	s.started = time.Now()
	if err := prepareDataDir(s.cfg.DataDir, s.log); err != nil {
		return err
	}
	if err := s.loadTokens(); err != nil {
		return err
	}
	if err := s.loadCredentials(); err != nil {
		return err
	}
	topo, err := loadTopology(s.cfg.TopologyPath)
	if err != nil {
		return err
	}
	s.topology.Store(topo)
	be, err := s.cfg.OpenStore(s.log, s.registry)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	if be.Flows == nil || be.DB == nil || be.Metrics == nil {
		if be.Flows != nil {
			be.Flows.Close()
		}
		return errors.New("open store: the store gave no flow store, component database or metric store")
	}
	st := be.Flows
	s.store, s.metrics = st, be.Metrics
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.ingester = ingest.New(s.cfg.Ingest, st, &s.topology, s.agents, s.log, s.registry)
	if err := s.buildModules(be); err != nil {
		st.Close()
		return err
	}
	s.ingester.Start()
	if err := module.StartAll(context.Background(), s.modules); err != nil {
		s.ingester.Stop(context.Background())
		st.Close()
		return err
	}
	if err := s.listen(); err != nil {
		module.StopAll(context.Background(), s.modules)
		s.ingester.Stop(context.Background())
		st.Close()
		return err
	}
	go s.maintainLoop()
	if s.cfg.DebugListen != "" {
		go func() {
			err := http.ListenAndServe(s.cfg.DebugListen, http.DefaultServeMux)
			s.log.Warn("pprof listener stopped", "err", err)
		}()
	}
	s.ready.Store(true)
	s.log.Info("flowlens server ready", "url", s.URL(), "data_dir", s.cfg.DataDir,
		"topology", s.cfg.TopologyPath, "subnets", len(topo.Subnets))
	return nil
}

func loadTopology(path string) (*topology.Topology, error) {
	if path == "" {
		return topology.Parse(nil, "(no topology)")
	}
	t, err := topology.Load(path)
	if err != nil {
		return nil, fmt.Errorf("load topology: %w", err)
	}
	return t, nil
}

func (s *Server) listen() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	// No ReadTimeout or WriteTimeout: they would bound every handler,
	// long queries and uploads included. The limiter sets per-request
	// body and write-stall deadlines instead.
	lim := newLimiter(s.cfg.Limits, s.registry, s.log)
	s.listener = lim.listener(ln)
	ln = s.listener
	s.http = &http.Server{Handler: lim.wrap(s.routes()), ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	if s.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("load TLS key pair: %w", err)
		}
		s.http.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		go func() { s.serveErr <- s.http.ServeTLS(ln, "", "") }()
		return nil
	}
	go func() { s.serveErr <- s.http.Serve(ln) }()
	return nil
}

// URL is where clients reach the server.
func (s *Server) URL() string {
	scheme := "http"
	if s.cfg.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + s.listener.Addr().String()
}

// Token is the first accepted token (for the demo to print).
func (s *Server) Token() string { return string(s.tokens[0]) }

// Store exposes the store to in-process users such as the demo.
func (s *Server) Store() store.Store { return s.store }

// SyncFeed returns once the stored-flow subscribers have handled every
// batch acknowledged so far (for tests on simulated time).
func (s *Server) SyncFeed(ctx context.Context) error { return s.ingester.SyncFeed(ctx) }

// Topology is the topology in force.
func (s *Server) Topology() *topology.Topology { return s.topology.Load() }

// Wait blocks until the HTTP server fails or Stop is called.
func (s *Server) Wait() error {
	select {
	case err := <-s.serveErr:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-s.stopped:
		return nil
	}
}

// Stop stops accepting requests, commits what is queued and closes the store.
func (s *Server) Stop(ctx context.Context) error {
	var err error
	s.stopOnce.Do(func() {
		s.ready.Store(false)
		if s.http != nil {
			err = errors.Join(err, s.http.Shutdown(ctx))
		}
		if s.ingester != nil {
			err = errors.Join(err, s.ingester.Stop(ctx))
		}
		err = errors.Join(err, module.StopAll(ctx, s.modules))
		if s.store != nil {
			err = errors.Join(err, s.store.Close())
		}
		close(s.stopped)
	})
	return err
}

func (s *Server) maintainLoop() {
	t := time.NewTicker(s.cfg.MaintainEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := s.store.Maintain(context.Background(), time.Now()); err != nil {
				s.log.Warn("store maintenance failed", "err", err)
			}
			if err := s.metrics.DeleteBefore(context.Background(), time.Now().Add(-s.cfg.MetricRetention)); err != nil {
				s.log.Warn("metric point retention failed", "err", err)
			}
		case <-s.stopped:
			return
		}
	}
}

// loadTokens takes the configured tokens, or generates one and keeps it in
// the data dir so that a restarted server accepts the same agents.
func (s *Server) loadTokens() error {
	for _, t := range s.cfg.Tokens {
		if t = strings.TrimSpace(t); t != "" {
			s.tokens = append(s.tokens, []byte(t))
		}
	}
	if len(s.tokens) > 0 {
		return nil
	}
	path := filepath.Join(s.cfg.DataDir, TokenFile)
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		s.tokens = [][]byte{[]byte(strings.TrimSpace(string(b)))}
		s.log.Info("no token configured; using the one generated earlier", "file", path)
		return nil
	}
	buf := make([]byte, 20)
	rand.Read(buf)
	tok := hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return fmt.Errorf("write generated token: %w", err)
	}
	s.tokens = [][]byte{[]byte(tok)}
	s.log.Info("no token configured (FLOWLENS_TOKEN); generated one", "file", path)
	return nil
}

// loadCredentials hashes the admin and agent tokens for identify.
func (s *Server) loadCredentials() error {
	if err := checkTokenOverlap(s.tokens, s.cfg.AgentTokens); err != nil {
		return err
	}
	for _, t := range s.tokens {
		s.creds = append(s.creds, newCredential(string(t), true, ""))
	}
	for _, a := range s.cfg.AgentTokens {
		s.creds = append(s.creds, newCredential(a.Token, false, a.AgentGlob))
	}
	s.authRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "flowlens_api_auth_refused_total",
		Help: "API requests refused by token check: missing or wrong token (401), or an agent token outside ingest (403).",
	}, []string{"reason"})
	s.registry.MustRegister(s.authRefused)
	if len(s.cfg.AgentTokens) > 0 {
		s.log.Info("agent tokens loaded (ingest only)", "count", len(s.cfg.AgentTokens))
	}
	return nil
}

// identity compares the request's bearer token with every accepted one.
// Browsers log in to the web UI (package web) with a user and a password
// instead; their session cookie is not accepted here.
func (s *Server) identity(r *http.Request) identity {
	return identify(s.creds, r.Header.Get("Authorization"))
}

// requireToken admits admin tokens only: every /api/ route but ingest.
func (s *Server) requireToken(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := s.identity(r)
		if !id.admin {
			s.refuse(w, id)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// requireIngestToken admits admin tokens and agent tokens; for an agent
// token it hands the agent ids it may report as to ingest, which checks
// them once the report is decoded.
func (s *Server) requireIngestToken(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := s.identity(r)
		switch {
		case id.admin:
			h.ServeHTTP(w, r)
		case id.known:
			h.ServeHTTP(w, r.WithContext(ingest.WithAgentGlob(r.Context(), id.glob)))
		default:
			s.refuse(w, id)
		}
	})
}

// refuse answers a request whose token does not reach the route: 403 for
// an agent token (it is valid, but for ingest only), 401 otherwise.
func (s *Server) refuse(w http.ResponseWriter, id identity) {
	if id.known {
		s.authRefused.WithLabelValues("agent_token_outside_ingest").Inc()
		httpjson.ErrorText(w, http.StatusForbidden, "an agent token may only POST /api/v1/ingest; use an admin token (FLOWLENS_TOKEN)")
		return
	}
	s.authRefused.WithLabelValues("missing_or_wrong_token").Inc()
	w.Header().Set("WWW-Authenticate", `Bearer realm="flowlens"`)
	httpjson.ErrorText(w, http.StatusUnauthorized, "missing or wrong token: send Authorization: Bearer <token> (FLOWLENS_TOKEN)")
}

// metricsHandler serves this server's Prometheus metrics.
func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry})
}
