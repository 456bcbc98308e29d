package web

import (
	"strconv"

	"github.com/flowlens/flowlens/metricstore"
	"github.com/flowlens/flowlens/server"
)

// The adapters over each feature's module (adapter_*.go once the feature
// is built in). Each returns nil when the module is absent or does not
// offer what the pages need.

func monitorAdapter(all map[string]server.Module, points *metricstore.Store) monitorsAPI { return nil }

func flowlogAdapter(all map[string]server.Module) flowlogsAPI { return nil }

func internetAdapter(all map[string]server.Module) internetAPI { return nil }

func itoa(n int) string { return strconv.Itoa(n) }
