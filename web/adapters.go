package web

import (
	"strconv"

	"github.com/flowlens/flowlens/server"
)

// The adapters over each feature's module. Each returns nil when the
// module is absent or does not offer what the pages need.

func monitorAdapter(all map[string]server.Module) monitorsAPI { return nil }

func alarmAdapter(all map[string]server.Module) alarmsAPI { return nil }

func flowlogAdapter(all map[string]server.Module) flowlogsAPI { return nil }

func internetAdapter(all map[string]server.Module) internetAPI { return nil }

func itoa(n int) string { return strconv.Itoa(n) }
