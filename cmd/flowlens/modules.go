package main

import (
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/flowlens/flowlens/alarm"
	"github.com/flowlens/flowlens/config"
	"github.com/flowlens/flowlens/flowlog"
	"github.com/flowlens/flowlens/geoip"
	"github.com/flowlens/flowlens/internet"
	"github.com/flowlens/flowlens/logquery"
	"github.com/flowlens/flowlens/metricfilter"
	"github.com/flowlens/flowlens/monitor"
	"github.com/flowlens/flowlens/server"
	"github.com/flowlens/flowlens/web"
)

// configSections are the sections a --config file may have; a feature
// that reads one adds its name here and decodes it in its factory.
var configSections = []string{monitor.ConfigSection}

// moduleFlags are the settings of the features built into the server
// (monitors, alarms, flow logs, internet monitor, web UI). `server` and
// `demo` share them, so every feature runs in the demo too.
type moduleFlags struct {
	configPath   string
	monitor      monitor.Config
	alarm        alarm.Config
	metricfilter metricfilter.Config
	flowlog      flowlog.ModuleConfig
	geoip        geoip.Config
	internet     internet.Config
	logquery     logquery.Config
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
	f.Int64Var(&m.flowlog.MaxUploadBytes, "max-upload-bytes", flowlog.DefaultMaxUploadBytes, "largest flow-log upload accepted, in bytes as sent (compressed files count compressed); larger ones get 413")
	f.Int64Var(&m.flowlog.MaxDecompressedBytes, "max-upload-decompressed-bytes", flowlog.DefaultMaxDecompressedBytes, "most bytes one flow-log upload may decompress to (gzip Content-Encoding or a .gz file); beyond it the upload gets 413 and nothing is stored")
	f.DurationVar(&m.flowlog.UploadStallTimeout, "upload-stall-timeout", flowlog.DefaultUploadStallTimeout, "a flow-log upload is cut off (408) when less than 64 KiB of it arrives within this; a slow link needs a longer one")
	f.StringVar(&m.geoip.CityPath, "geoip-city", "", "MMDB file with client cities (MaxMind GeoLite2-City or IPinfo location; a combined city+ASN file works too)")
	f.StringVar(&m.geoip.ASNPath, "geoip-asn", "", "MMDB file with ASNs (MaxMind GeoLite2-ASN or IPinfo ASN; may be the same file as --geoip-city)")
	f.DurationVar(&m.internet.Grace, "internet-grace", 40*time.Second, "how long the internet monitor waits after a period for late agent reports")
	f.DurationVar(&m.internet.MinPeriod, "internet-min-period", internet.MinPeriod, "shortest internet monitor period accepted (lower only for tests)")
	f.MarkHidden("internet-min-period")
	m.logquery = logquery.DefaultConfig()
	f.DurationVar(&m.logquery.Timeout, "query-timeout", m.logquery.Timeout, "answer a log query (API or web UI) with a timeout after this long, DuckDB's planning included; its slot stays taken until DuckDB stops")
	f.IntVar(&m.logquery.MaxConcurrent, "query-max-concurrent", m.logquery.MaxConcurrent, "log queries that run at once, API and web UI (page and CSV download) together; more wait until --query-timeout, then get 503")
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

// factories lists the modules in start order; a module may use those
// before it (the web UI comes last).
func (m *moduleFlags) factories() []server.ModuleFactory {
	if m.web.AdminPassword == "" {
		m.web.AdminPassword = os.Getenv("FLOWLENS_ADMIN_PASSWORD")
	}
	return []server.ModuleFactory{
		{Name: "monitor", New: func(d *server.Deps) (server.Module, error) {
			f, err := m.loadConfig()
			if err != nil {
				return nil, err
			}
			cfg := m.monitor
			if cfg.Monitors, err = monitor.FromConfig(f); err != nil {
				return nil, err
			}
			return monitor.New(cfg, d)
		}},
		alarm.Factory(m.alarm),
		metricfilter.Factory(m.metricfilter), // before the flow-log importer, which calls it
		flowlog.Factory(m.flowlog),
		logquery.Factory(&m.logquery, logSources()),
		geoip.Factory(m.geoip), // before internet, which reads its database
		internet.Factory(m.internet),
		web.Factory(m.web), // last: it reaches the modules above
	}
}
