package main

import (
	"github.com/flowlens/flowlens/logquery"
	"github.com/flowlens/flowlens/store/duckdb"
	"github.com/flowlens/flowlens/store/duckdb/applogs"
	"github.com/flowlens/flowlens/store/duckdb/flowlogs"
)

// logSources are what the log query language reads, each described by
// the owner of its tables: the agents' flows by the flow store, every
// other log group by the flow-log records, except the application log
// groups (text and JSON lines), which their own store lists.
func logSources() *logquery.Sources {
	return (&logquery.Sources{}).
		AddGroup(logquery.FlowsGroup, "the agent's flows", duckdb.FlowsLogSource()).
		SetGroups("flow-log groups", flowlogs.LogSource()).
		AddListedGroups("application log groups", applogs.LogSource())
}
