package web

import "strconv"

// Adapters over each feature's module live in adapter_*.go. Each returns
// nil when the module is absent or does not offer what the pages need.

func itoa(n int) string { return strconv.Itoa(n) }
