package web

import (
	"strconv"

	"github.com/flowlens/flowlens/server"
)

// Adapters over each feature's module live in adapter_*.go. Each returns
// nil when the module is absent or does not offer what the pages need.

// internetAdapter: the internet monitor is not merged into this build yet.
func internetAdapter(all map[string]server.Module) internetAPI { return nil }

func itoa(n int) string { return strconv.Itoa(n) }
