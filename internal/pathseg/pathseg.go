// Package pathseg tells names that cannot be one segment of a URL path.
package pathseg

import "strings"

// Dot reports whether name, or any '/'-separated part of it, is "." or
// "..". Browsers, HTTP clients and Go's ServeMux resolve such segments
// before a handler sees them (/api/v1/monitors/.. is /api/v1/), and a
// proxy that decodes %2F does the same to the parts of a name with
// slashes, so a resource named so could be created but never read or
// deleted by its URL, and its links would point elsewhere.
func Dot(name string) bool {
	for part := range strings.SplitSeq(name, "/") {
		if part == "." || part == ".." {
			return true
		}
	}
	return false
}
