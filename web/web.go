// Package web is FlowLens's web UI: server-rendered pages (html/template,
// htmx, uPlot, all embedded) behind a form login with server-side sessions
// and CSRF tokens. It runs as the last server module and reaches the other
// features through their Go APIs, handed to it as typed Dependencies; a
// page whose feature is not wired in (a nil field) says so instead of
// failing.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/flowlens/flowlens/ingest"
	"github.com/flowlens/flowlens/internal/promset"
	"github.com/flowlens/flowlens/metricstore"
	"github.com/flowlens/flowlens/module"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

// Config is what `flowlens server` tells the UI.
type Config struct {
	// UsersFile lists the accounts (see ParseUsers). Without it there is
	// one user, admin, whose password is AdminPassword.
	UsersFile string
	// AdminPassword is admin's password when there is no users file
	// (FLOWLENS_ADMIN_PASSWORD). Empty: one is generated into
	// DATA_DIR/admin-password and kept across restarts.
	AdminPassword string
	// SessionIdle logs a browser out after this long without a request
	// (default 8h); SessionMaxAge after this long in any case (default 7d).
	SessionIdle   time.Duration
	SessionMaxAge time.Duration
	// LoginMaxFailures failed logins from one address, or for one user
	// name from anywhere, within LoginWindow refuse further attempts (429)
	// for the rest of the window (defaults 10 and 5m).
	LoginMaxFailures int
	LoginWindow      time.Duration
}

// Dependencies are what the UI uses of the server and of the other
// features. The features' fields are their modules' Go APIs (nil: the
// feature is not built in and its pages say so).
type Dependencies struct {
	Log      *slog.Logger
	Registry prometheus.Registerer
	// DataDir keeps the generated admin password.
	DataDir string
	// DB keeps the health-event history (nil: none kept).
	DB store.ComponentDB
	// Metrics feeds the monitor and alarm charts.
	Metrics metricstore.Store
	// Flows answers the insights pages.
	Flows store.FlowQuerier
	// Topology returns the topology in force.
	Topology func() *topology.Topology
	// SubscribeFlows registers the overview's ingest-rate meter for every
	// stored flow batch (nil: no meter).
	SubscribeFlows func(name string, fn func(stored []*store.Batch)) error
	// Agents lists the agents that have reported.
	Agents AgentLister

	Monitors MonitorModule
	Alarms   AlarmEngine
	Query    QueryEngine
	FlowLogs FlowLogImporter // lists the groups; nil: only the agents' flows
	Internet InternetModule
	Diagnose DiagnoseModule // nil: no diagnosis page
}

// AgentLister lists the agents that have reported (ingest.Agents).
type AgentLister interface {
	List() []ingest.AgentInfo
}

var _ module.Module = (*UI)(nil)

// UI is the web UI module.
type UI struct {
	cfg      Config
	deps     Dependencies
	log      *slog.Logger
	users    map[string][]byte // name -> bcrypt hash
	sessions *sessions
	pages    *pages
	rate     *ingestRate
	// byAddress and byUser limit password guessing; devices exempts the
	// browsers that logged in before from the per-user limit.
	byAddress *loginLimiter
	byUser    *loginLimiter
	devices   *devices
	history   *history
	mods      modules
	metrics   uiMetrics
	stop      chan struct{}
	wg        sync.WaitGroup
	// dummyHash is compared against when the user does not exist, so that
	// a login takes as long for unknown users as for known ones.
	dummyHash []byte
	// compare checks a password against a hash (bcrypt; tests count calls).
	compare func(hash, password []byte) error
	// logKey keys the hash that stands for unknown user names in the log.
	logKey []byte
}

type uiMetrics struct {
	requests *prometheus.HistogramVec
	logins   *prometheus.CounterVec
	sessions prometheus.GaugeFunc
}

// New builds the UI: users, templates, the ingest-rate subscription. It
// serves nothing until the server mounts its routes.
func New(cfg Config, d Dependencies) (*UI, error) {
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = 8 * time.Hour
	}
	if cfg.SessionMaxAge <= 0 {
		cfg.SessionMaxAge = 7 * 24 * time.Hour
	}
	if cfg.LoginMaxFailures <= 0 {
		cfg.LoginMaxFailures = DefaultLoginMaxFailures
	}
	if cfg.LoginWindow <= 0 {
		cfg.LoginWindow = DefaultLoginWindow
	}
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u := &UI{
		cfg: cfg, deps: d, log: log,
		sessions:  newSessions(cfg.SessionIdle, cfg.SessionMaxAge),
		rate:      newIngestRate(10*time.Second, 180),
		byAddress: newLoginLimiter(cfg.LoginMaxFailures, cfg.LoginWindow),
		byUser:    newLoginLimiter(cfg.LoginMaxFailures, cfg.LoginWindow),
		devices:   newDevices(),
		compare:   bcrypt.CompareHashAndPassword,
		logKey:    []byte(randomToken()),
		stop:      make(chan struct{}),
	}
	if err := u.loadUsers(); err != nil {
		return nil, err
	}
	var err error
	if u.dummyHash, err = HashPassword(GeneratePassword()); err != nil {
		return nil, err
	}
	if u.pages, err = parsePages(); err != nil {
		return nil, err
	}
	if d.DB != nil {
		if u.history, err = openHistory(context.Background(), d.DB); err != nil {
			return nil, err
		}
	}
	if d.SubscribeFlows != nil {
		if err := d.SubscribeFlows("web-ingest-rate", u.rate.observe); err != nil {
			return nil, err
		}
	}
	u.mods = adapters(d)
	u.metrics = uiMetrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "flowlens_web_request_seconds",
			Help:    "Time to answer web UI requests, by page.",
			Buckets: []float64{.005, .01, .025, .05, .1, .2, .3, .5, 1, 2, 5}}, []string{"page"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowlens_web_logins_total",
			Help: "Web UI login attempts by result (ok, bad_password, rate_limited: too many from the address, user_limited: too many for the user name, bad_csrf)."}, []string{"result"}),
		sessions: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "flowlens_web_sessions",
			Help: "Live web UI sessions."}, func() float64 { return float64(u.sessions.count()) }),
	}
	if err := u.collectors().Register(d.Registry); err != nil {
		return nil, fmt.Errorf("register web metrics: %w", err)
	}
	return u, nil
}

func (u *UI) collectors() promset.Set {
	return promset.Set{u.metrics.requests, u.metrics.logins, u.metrics.sessions}
}

func (u *UI) loadUsers() error {
	u.users = map[string][]byte{}
	if u.cfg.UsersFile != "" {
		list, err := LoadUsers(u.cfg.UsersFile)
		if err != nil {
			return err
		}
		for _, x := range list {
			u.users[x.Name] = x.PasswordHash
		}
		u.log.Info("web UI users loaded", "file", u.cfg.UsersFile, "users", len(list))
		return nil
	}
	pw := u.cfg.AdminPassword
	if pw == "" {
		if u.deps.DataDir == "" {
			return errors.New("web: no users file, no admin password and no data dir to keep one in")
		}
		var path string
		var err error
		if pw, path, err = adminPassword(u.deps.DataDir); err != nil {
			return err
		}
		u.log.Info("web UI: no users file and no FLOWLENS_ADMIN_PASSWORD; user admin's password is in a file", "file", path)
	}
	h, err := HashPassword(pw)
	if err != nil {
		return err
	}
	u.users["admin"] = h
	return nil
}

// Start runs the session janitor.
func (u *UI) Start(ctx context.Context) error {
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				u.sessions.evict()
				u.byAddress.evict()
				u.byUser.evict()
			case <-u.stop:
				return
			}
		}
	}()
	return nil
}

// Stop ends the janitor and unregisters the metrics.
func (u *UI) Stop(ctx context.Context) error {
	select {
	case <-u.stop:
	default:
		close(u.stop)
	}
	u.wg.Wait()
	u.collectors().Unregister(u.deps.Registry)
	return nil
}

// Routes mounts the pages. They are protected by the session, not by the
// API token: /api/ stays token-only for agents and the CLI.
func (u *UI) Routes(mux *http.ServeMux, _ func(http.Handler) http.Handler) {
	mux.Handle("GET /static/", staticHandler())
	mux.HandleFunc("GET /login", u.handleLoginPage)
	mux.HandleFunc("POST /login", u.handleLogin)
	mux.Handle("POST /logout", u.page("logout", u.handleLogout))
	mux.Handle("GET /{$}", u.page("overview", u.handleOverview))
	mux.Handle("GET /insights", u.page("insights", u.handleInsights))
	mux.Handle("GET /agents", u.page("agents", u.handleAgents))
	u.monitorRoutes(mux)
	u.flowlogRoutes(mux)
	u.internetRoutes(mux)
	u.alarmRoutes(mux)
	mux.Handle("GET /flowlogs/diagnose", u.page("diagnose", u.handleDiagnose))
}

// userKey carries the session in a request's context.
type userKey struct{}

func sessionOf(r *http.Request) *session {
	s, _ := r.Context().Value(userKey{}).(*session)
	return s
}

// page wraps a handler with the session check, CSRF protection on every
// state-changing method, the security headers and the latency metric.
func (u *UI) page(name string, h http.HandlerFunc) http.Handler {
	obs := u.metrics.requests.WithLabelValues(name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		defer func() { obs.Observe(time.Since(start).Seconds()) }()
		securityHeaders(w)
		c, _ := r.Cookie(sessionCookie)
		var ss *session
		if c != nil {
			ss = u.sessions.get(c.Value)
		}
		if ss == nil {
			u.toLogin(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if crossSite(r) || !validCSRF(r, ss) {
				http.Error(w, "CSRF check failed: reload the page and try again", http.StatusForbidden)
				return
			}
		}
		h(w, r.WithContext(context.WithValue(r.Context(), userKey{}, ss)))
	})
}

// toLogin sends a browser without a session to the login form, coming back
// here afterwards. htmx requests get HX-Redirect so the whole page moves.
func (u *UI) toLogin(w http.ResponseWriter, r *http.Request) {
	target := "/login"
	if r.Method == http.MethodGet && r.URL.RequestURI() != "/" {
		target += "?next=" + urlQueryEscape(r.URL.RequestURI())
	}
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Redirect", target)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	// Scripts only from /static (no inline script); uPlot sets style
	// attributes, hence 'unsafe-inline' for styles only.
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}
