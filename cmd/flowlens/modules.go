package main

import (
	"github.com/spf13/pflag"

	"github.com/flowlens/flowlens/logquery"
	"github.com/flowlens/flowlens/server"
)

// moduleFlags are the settings of the features built into the server
// (monitors, alarms, flow logs, internet monitor, web UI). `server` and
// `demo` share them, so every feature runs in the demo too.
type moduleFlags struct {
	logquery logquery.Config
}

// register adds the modules' flags to a server or demo command.
func (m *moduleFlags) register(f *pflag.FlagSet) {
	m.logquery = logquery.DefaultConfig()
	f.DurationVar(&m.logquery.Timeout, "query-timeout", m.logquery.Timeout, "stop a log query (POST /api/v1/query) after this long")
	f.IntVar(&m.logquery.MaxConcurrent, "query-max-concurrent", m.logquery.MaxConcurrent, "log queries that run at once; more wait")
}

// factories lists the modules in start order; a module may use those
// before it (the web UI comes last).
func (m *moduleFlags) factories() []server.ModuleFactory {
	return []server.ModuleFactory{logquery.Factory(&m.logquery)}
}
