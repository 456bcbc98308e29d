package main

import (
	"github.com/spf13/pflag"

	"github.com/flowlens/flowlens/flowlog"
	"github.com/flowlens/flowlens/server"
)

// moduleFlags are the settings of the features built into the server
// (monitors, alarms, flow logs, internet monitor, web UI). `server` and
// `demo` share them, so every feature runs in the demo too.
type moduleFlags struct {
	flowlog flowlog.ModuleConfig
}

// register adds the modules' flags to a server or demo command.
func (m *moduleFlags) register(f *pflag.FlagSet) {
	f.IntVar(&m.flowlog.Importer.MaxErrors, "flowlog-max-errors", 100, "bad flow-log lines listed per file in an import's answer (all are counted)")
}

// factories lists the modules in start order; a module may use those
// before it (the web UI comes last).
func (m *moduleFlags) factories() []server.ModuleFactory {
	return []server.ModuleFactory{
		flowlog.Factory(m.flowlog),
	}
}
