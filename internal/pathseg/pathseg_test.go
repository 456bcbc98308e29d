package pathseg

import "testing"

func TestDot(t *testing.T) {
	for name, want := range map[string]bool{
		".": true, "..": true, "a/..": true, "/aws/./x": true, "../a": true,
		"...": false, "a.b": false, ".hidden": false, "a..": false, "/aws/vpc/flow-logs": false, "": false,
	} {
		if got := Dot(name); got != want {
			t.Errorf("Dot(%q) = %v, want %v", name, got, want)
		}
	}
}
