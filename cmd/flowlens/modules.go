package main

import (
	"os"

	"github.com/spf13/pflag"

	"github.com/flowlens/flowlens/alarm"
	"github.com/flowlens/flowlens/flowlog"
	"github.com/flowlens/flowlens/metricfilter"
	"github.com/flowlens/flowlens/server"
	"github.com/flowlens/flowlens/web"
)

// moduleFlags are the settings of the features built into the server
// (monitors, alarms, flow logs, internet monitor, web UI). `server` and
// `demo` share them, so every feature runs in the demo too.
type moduleFlags struct {
	alarm        alarm.Config
	metricfilter metricfilter.Config
	flowlog      flowlog.ModuleConfig
	web          web.Config
}

// register adds the modules' flags to a server or demo command.
func (m *moduleFlags) register(f *pflag.FlagSet) {
	f.DurationVar(&m.alarm.EvalDelay, "alarm-eval-delay", 0, "wait this long after a period ends before judging it (default min(step/2, 3s))")
	f.DurationVar(&m.alarm.ResendInterval, "alarm-resend-interval", 0, "re-send firing alerts to Alertmanager this often (default 1m)")
	f.IntVar(&m.flowlog.Importer.MaxErrors, "flowlog-max-errors", 100, "bad flow-log lines listed per file in an import's answer (all are counted)")
	f.StringVar(&m.web.UsersFile, "users-file", "", "web UI users (YAML: users: [{name, password_hash}]); without it the one user is admin, password from FLOWLENS_ADMIN_PASSWORD or generated into DATA_DIR/admin-password")
}

// factories lists the modules in start order; a module may use those
// before it (the web UI comes last).
func (m *moduleFlags) factories() []server.ModuleFactory {
	if m.web.AdminPassword == "" {
		m.web.AdminPassword = os.Getenv("FLOWLENS_ADMIN_PASSWORD")
	}
	return []server.ModuleFactory{
		alarm.Factory(m.alarm),
		metricfilter.Factory(m.metricfilter), // before the flow-log importer, which calls it
		flowlog.Factory(m.flowlog),
		web.Factory(m.web), // last: it reaches the modules above
	}
}
