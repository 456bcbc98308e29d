package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/flowlens/flowlens/alarm"
	"github.com/flowlens/flowlens/applog"
	"github.com/flowlens/flowlens/applog/applogapi"
	"github.com/flowlens/flowlens/config"
	"github.com/flowlens/flowlens/diagnose/awsconfig"
	"github.com/flowlens/flowlens/diagnose/diagnoseapi"
	"github.com/flowlens/flowlens/flowlog/importer"
	"github.com/flowlens/flowlens/flowlog/logsapi"
	"github.com/flowlens/flowlens/geoip"
	"github.com/flowlens/flowlens/insights/insightsapi"
	"github.com/flowlens/flowlens/internet"
	"github.com/flowlens/flowlens/logquery"
	"github.com/flowlens/flowlens/metricfilter"
	"github.com/flowlens/flowlens/metricstore/seriesapi"
	"github.com/flowlens/flowlens/module"
	"github.com/flowlens/flowlens/monitor"
	"github.com/flowlens/flowlens/server"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/store/duckdb/applogs"
	"github.com/flowlens/flowlens/store/duckdb/flowlogs"
	"github.com/flowlens/flowlens/web"
)

// configSections are the sections a --config file may have; a feature
// that reads one adds its name here and decodes it in build.
var configSections = []string{monitor.ConfigSection}

// moduleFlags are the settings of the features built into the server
// (monitors, alarms, flow logs, internet monitor, web UI). `server` and
// `demo` share them, so every feature runs in the demo too.
type moduleFlags struct {
	configPath   string
	monitor      monitor.Config
	alarm        alarm.Config
	metricfilter metricfilter.Config
	flowlog      logsapi.ModuleConfig
	applog       applogapi.Config
	geoip        geoip.Config
	internet     internet.Config
	logquery     logquery.Config
	diagnose     diagnoseapi.Config
	web          web.Config
}

// register adds the modules' flags to a server or demo command.
func (m *moduleFlags) register(f *pflag.FlagSet) {
	f.StringVar(&m.configPath, "config", "", "server config file (YAML) with a monitors: section, applied at start")
	f.DurationVar(&m.monitor.Grace, "monitor-grace", 0, "wait this long after a monitor period ends for late reports (default 3s)")
	f.DurationVar(&m.monitor.Retention, "monitor-evaluation-retention", 0, "keep monitor evaluations (evidence, contributors) this long (default 24h; metric points are kept longer)")
	f.DurationVar(&m.alarm.EvalDelay, "alarm-eval-delay", 0, "wait this long after a period ends before judging it (default min(step/2, 3s))")
	f.DurationVar(&m.alarm.ResendInterval, "alarm-resend-interval", 0, "re-send firing alerts to Alertmanager this often (default 1m)")
	f.StringSliceVar(&m.alarm.NotifyAllowedHosts, "notify-allowed-hosts", nil, "the only places alarm webhooks and Alertmanagers may be: host names (hooks.example.com), name suffixes (*.example.com), addresses or networks (10.0.0.0/8), comma-separated or repeated; a listed name is trusted wherever it resolves, any other target only at listed addresses, checked on every connection (default: anywhere)")
	f.IntVar(&m.flowlog.Importer.MaxErrors, "flowlog-max-errors", 100, "bad flow-log lines listed per file in an import's answer (all are counted)")
	f.Int64Var(&m.flowlog.MaxUploadBytes, "max-upload-bytes", logsapi.DefaultMaxUploadBytes, "largest flow-log upload accepted, in bytes as sent (compressed files count compressed); larger ones get 413")
	f.Int64Var(&m.flowlog.MaxDecompressedBytes, "max-upload-decompressed-bytes", logsapi.DefaultMaxDecompressedBytes, "most bytes one flow-log upload may decompress to (gzip Content-Encoding or a .gz file); beyond it the upload gets 413 and nothing is stored")
	f.IntVar(&m.applog.MaxLineBytes, "applog-max-line-bytes", applog.DefaultMaxLineBytes, "longest application log event (one line of a text/plain or JSON-lines put to /api/v1/logs/GROUP); longer lines are refused as bad lines, counted in flowlens_applog_refused_total{reason=\"line\"}")
	f.DurationVar(&m.flowlog.UploadStallTimeout, "upload-stall-timeout", logsapi.DefaultUploadStallTimeout, "a flow-log upload is cut off (408) when less than 64 KiB of it arrives within this; a slow link needs a longer one")
	f.StringVar(&m.geoip.CityPath, "geoip-city", "", "MMDB file that answers for client locations: city, subdivision, country, coordinates (MaxMind GeoIP2/GeoLite2 City, Country or Enterprise; IPinfo Lite, Core, Plus or Location). Without --geoip-asn it answers for ASNs too when it has them (Enterprise, Core, Plus, Lite)")
	f.StringVar(&m.geoip.ASNPath, "geoip-asn", "", "MMDB file that answers for client networks: ASN and AS name (MaxMind GeoIP2/GeoLite2 ASN or ISP; IPinfo ASN or IP-to-ASN; may be the same file as --geoip-city). Only its ASNs are used: IPinfo's ASN country is where the AS is registered, not where its clients are")
	f.DurationVar(&m.internet.Grace, "internet-grace", 40*time.Second, "how long the internet monitor waits after a period for late agent reports")
	f.DurationVar(&m.internet.MinPeriod, "internet-min-period", internet.MinPeriod, "shortest internet monitor period accepted (lower only for tests)")
	f.MarkHidden("internet-min-period")
	m.logquery = logquery.DefaultConfig()
	f.DurationVar(&m.logquery.Timeout, "query-timeout", m.logquery.Timeout, "answer a log query (API or web UI) with a timeout after this long, DuckDB's planning included; its slot stays taken until DuckDB stops")
	f.IntVar(&m.logquery.MaxConcurrent, "query-max-concurrent", m.logquery.MaxConcurrent, "log queries that run at once, API and web UI (page and CSV download) together; more wait until --query-timeout, then get 503")
	f.StringVar(&m.diagnose.AWSConfigDir, "aws-config", "", "directory of AWS CLI JSON outputs (describe-security-groups, describe-network-acls, describe-route-tables, describe-network-interfaces, describe-subnets, describe-vpcs, ...; see flowlens diagnose path --help) loaded at start: the diagnosis API (/api/v1/diagnose/...) and web page explain a log group's REJECTs and check paths with it; a bad file fails the start")
	f.Int64Var(&m.diagnose.Limits.MaxFileBytes, "aws-config-max-file-bytes", awsconfig.DefaultLimits.MaxFileBytes, "refuse an --aws-config file larger than this (the start fails)")
	f.IntVar(&m.diagnose.Limits.MaxFiles, "aws-config-max-files", awsconfig.DefaultLimits.MaxFiles, "refuse an --aws-config directory with more files than this (the start fails)")
	f.DurationVar(&m.diagnose.MaxRange, "diagnose-max-range", diagnoseapi.DefaultMaxRange, "longest time range a REJECT diagnosis may cover (API and web UI); longer requests get 400")
	f.IntVar(&m.web.LoginMaxFailures, "web-login-max-failures", web.DefaultLoginMaxFailures, "failed web UI logins from one address (an IPv6 /64), or for one user name from any address, after which further attempts get 429 until --web-login-window has passed; a browser that logged in as that user before is exempt from the per-user-name limit")
	f.DurationVar(&m.web.LoginWindow, "web-login-window", web.DefaultLoginWindow, "window of --web-login-max-failures, counted from the first failure")
	f.StringVar(&m.web.UsersFile, "users-file", "", "web UI users (YAML: users: [{name, password_hash}]); without it the one user is admin, password from FLOWLENS_ADMIN_PASSWORD or generated into DATA_DIR/admin-password")
}

// loadConfig reads --config (nil without one).
func (m *moduleFlags) loadConfig() (*config.File, error) {
	if m.configPath == "" {
		return nil, nil
	}
	return config.Load(m.configPath, configSections...)
}

// serverModules are the modules `flowlens server` and `demo` run, each
// typed, so that a module that needs another takes it as a value and
// removing one is a compile error where it is needed.
type serverModules struct {
	insights     *insightsapi.Module
	metrics      *seriesapi.Module
	monitor      *monitor.Module
	alarm        *alarm.Module
	metricfilter *metricfilter.Module
	applog       *applogapi.Module
	flowlog      *logsapi.Module
	logquery     *logquery.Module
	diagnose     *diagnoseapi.Module
	geoip        *geoip.Module
	internet     *internet.Module
	web          *web.UI
}

// builder is the server's Config.Modules: it builds every module from the
// server's shared parts and hands them over in start order. built, when
// not nil, sees the modules (tests reach one through it).
func (m *moduleFlags) builder(built func(*serverModules)) func(h *server.Host) ([]module.Named, error) {
	if m.web.AdminPassword == "" {
		m.web.AdminPassword = os.Getenv("FLOWLENS_ADMIN_PASSWORD")
	}
	return func(h *server.Host) ([]module.Named, error) {
		s, err := m.build(h)
		if err != nil {
			return nil, err
		}
		if built != nil {
			built(s)
		}
		return s.startOrder(), nil
	}
}

// build creates the modules in dependency order: a module comes after
// those it takes as dependencies.
func (m *moduleFlags) build(h *server.Host) (*serverModules, error) {
	var s serverModules
	var err error
	s.insights = insightsapi.New(insightsapi.Dependencies{Flows: h.Flows, Topology: h.Topology, Agents: h.Agents})
	s.metrics = seriesapi.New(seriesapi.Dependencies{Metrics: h.Metrics})
	f, err := m.loadConfig()
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	monCfg := m.monitor
	if monCfg.Monitors, err = monitor.FromConfig(f); err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	if s.monitor, err = monitor.New(monCfg, monitorDeps(h)); err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	if s.alarm, err = alarm.NewModule(m.alarm, alarmDeps(h)); err != nil {
		return nil, fmt.Errorf("alarm: %w", err)
	}
	if s.metricfilter, err = metricfilter.NewModule(m.metricfilter, metricfilterDeps(h)); err != nil {
		return nil, fmt.Errorf("metricfilter: %w", err)
	}
	c := h.Common("applog")
	appCfg := m.applog
	appCfg.MaxBodyBytes, appCfg.MaxDecompressedBytes = m.flowlog.MaxUploadBytes, m.flowlog.MaxDecompressedBytes
	if s.applog, err = applogapi.New(appCfg, applogapi.Dependencies{Log: c.Log, Registry: c.Registry, DB: h.DB,
		OpenStore: openAppLogStore, Ingester: s.metricfilter}); err != nil {
		return nil, fmt.Errorf("applog: %w", err)
	}
	c = h.Common("flowlog")
	s.flowlog = logsapi.NewModule(m.flowlog, logsapi.Dependencies{Log: c.Log, Registry: c.Registry, DataDir: c.DataDir,
		DB: h.DB, OpenStore: openFlowLogStore, Ingester: s.metricfilter, TextLogs: s.applog})
	c = h.Common("logquery")
	if s.logquery, err = logquery.New(m.logquery, logSources(), logquery.Dependencies{Log: c.Log, Registry: c.Registry, DB: h.DB}); err != nil {
		return nil, fmt.Errorf("logquery: %w", err)
	}
	c = h.Common("diagnose")
	if s.diagnose, err = diagnoseapi.New(m.diagnose, diagnoseapi.Dependencies{Log: c.Log, Registry: c.Registry, Query: s.logquery.Engine()}); err != nil {
		return nil, fmt.Errorf("diagnose: %w", err)
	}
	c = h.Common("geoip")
	if s.geoip, err = geoip.NewModule(m.geoip, geoip.Dependencies{Log: c.Log, Registry: c.Registry, Enrich: h.Enrich}); err != nil {
		return nil, fmt.Errorf("geoip: %w", err)
	}
	if s.internet, err = internet.New(m.internet, internetDeps(h, s.geoip.DB)); err != nil {
		return nil, fmt.Errorf("internet: %w", err)
	}
	c = h.Common("web")
	if s.web, err = web.New(m.web, web.Dependencies{Log: c.Log, Registry: c.Registry, DataDir: c.DataDir, DB: h.DB,
		Metrics: h.Metrics, Flows: h.Flows, Topology: h.Topology, SubscribeFlows: h.SubscribeFlows, Agents: h.Agents,
		Monitors: s.monitor, Alarms: s.alarm, Query: s.logquery.Engine(), FlowLogs: s.flowlog, Internet: s.internet, Diagnose: s.diagnose}); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	return &s, nil
}

// startOrder lists the modules as the server starts them (and stops them
// in reverse): the metric filters before the flow-log importer that feeds
// them, the GeoIP databases before the internet monitor, the web UI last.
func (s *serverModules) startOrder() []module.Named {
	return []module.Named{
		{Name: "insights", Module: s.insights},
		{Name: "metrics", Module: s.metrics},
		{Name: "monitor", Module: s.monitor},
		{Name: "alarm", Module: s.alarm},
		{Name: "metricfilter", Module: s.metricfilter},
		{Name: "applog", Module: s.applog},
		{Name: "flowlog", Module: s.flowlog},
		{Name: "logquery", Module: s.logquery},
		{Name: "diagnose", Module: s.diagnose},
		{Name: "geoip", Module: s.geoip},
		{Name: "internet", Module: s.internet},
		{Name: "web", Module: s.web},
	}
}

func monitorDeps(h *server.Host) monitor.Dependencies {
	c := h.Common("monitor")
	return monitor.Dependencies{Log: c.Log, Registry: c.Registry, DB: h.DB, Metrics: h.Metrics,
		Topology: h.Topology, SubscribeFlows: h.SubscribeFlows}
}

func alarmDeps(h *server.Host) alarm.Dependencies {
	c := h.Common("alarm")
	return alarm.Dependencies{Log: c.Log, Registry: c.Registry, DB: h.DB, Metrics: h.Metrics}
}

func metricfilterDeps(h *server.Host) metricfilter.Dependencies {
	c := h.Common("metricfilter")
	return metricfilter.Dependencies{Log: c.Log, Registry: c.Registry, DB: h.DB, Metrics: h.Metrics}
}

func internetDeps(h *server.Host, geo internet.GeoLookup) internet.Dependencies {
	c := h.Common("internet")
	return internet.Dependencies{Log: c.Log, Registry: c.Registry, DB: h.DB, Metrics: h.Metrics,
		Topology: h.Topology, SubscribeFlows: h.SubscribeFlows, GeoIP: geo}
}

// openAppLogStore keeps application log events in the server's DuckDB file.
func openAppLogStore(ctx context.Context, db store.ComponentDB, log *slog.Logger) (applogapi.Store, error) {
	st, err := applogs.Open(ctx, db, log)
	if err != nil {
		return nil, err
	}
	return appLogStore{st}, nil
}

// appLogStore gives applogs.Store's writer the module's interface.
type appLogStore struct{ *applogs.Store }

func (s appLogStore) Begin(ctx context.Context, group string, ingestionMs int64) (applogapi.Writer, error) {
	w, err := s.Store.Begin(ctx, group, ingestionMs)
	if err != nil {
		return nil, err
	}
	return w, nil
}

// openFlowLogStore keeps flow-log records in the server's DuckDB file.
func openFlowLogStore(ctx context.Context, db store.ComponentDB, log *slog.Logger) (importer.Store, error) {
	return flowlogs.Open(ctx, db, flowlogs.Config{}, log)
}
