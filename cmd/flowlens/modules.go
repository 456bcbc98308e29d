package main

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/flowlens/flowlens/alarm"
	"github.com/flowlens/flowlens/flowlog"
	"github.com/flowlens/flowlens/geoip"
	"github.com/flowlens/flowlens/internet"
	"github.com/flowlens/flowlens/metricfilter"
	"github.com/flowlens/flowlens/server"
)

// moduleFlags are the settings of the features built into the server
// (monitors, alarms, flow logs, internet monitor, web UI). `server` and
// `demo` share them, so every feature runs in the demo too.
type moduleFlags struct {
	alarm        alarm.Config
	metricfilter metricfilter.Config
	flowlog      flowlog.ModuleConfig
	geoip        geoip.Config
	internet     internet.Config
}

// register adds the modules' flags to a server or demo command.
func (m *moduleFlags) register(f *pflag.FlagSet) {
	f.DurationVar(&m.alarm.EvalDelay, "alarm-eval-delay", 0, "wait this long after a period ends before judging it (default min(step/2, 3s))")
	f.DurationVar(&m.alarm.ResendInterval, "alarm-resend-interval", 0, "re-send firing alerts to Alertmanager this often (default 1m)")
	f.IntVar(&m.flowlog.Importer.MaxErrors, "flowlog-max-errors", 100, "bad flow-log lines listed per file in an import's answer (all are counted)")
	f.StringVar(&m.geoip.CityPath, "geoip-city", "", "MMDB file with client cities (MaxMind GeoLite2-City or IPinfo location; a combined city+ASN file works too)")
	f.StringVar(&m.geoip.ASNPath, "geoip-asn", "", "MMDB file with ASNs (MaxMind GeoLite2-ASN or IPinfo ASN; may be the same file as --geoip-city)")
	f.DurationVar(&m.internet.Grace, "internet-grace", 40*time.Second, "how long the internet monitor waits after a period for late agent reports")
	f.DurationVar(&m.internet.MinPeriod, "internet-min-period", internet.MinPeriod, "shortest internet monitor period accepted (lower only for tests)")
	f.MarkHidden("internet-min-period")
}

// factories lists the modules in start order; a module may use those
// before it (the web UI comes last).
func (m *moduleFlags) factories() []server.ModuleFactory {
	return []server.ModuleFactory{
		alarm.Factory(m.alarm),
		metricfilter.Factory(m.metricfilter), // before the flow-log importer, which calls it
		flowlog.Factory(m.flowlog),
		geoip.Factory(m.geoip), // before internet, which reads its database
		internet.Factory(m.internet),
	}
}
