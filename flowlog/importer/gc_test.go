package importer

import (
	"runtime/debug"
	"testing"
)

// An import lowers the GC target to importGCPercent while it runs (a
// server at GOGC=400 otherwise let one 2 GiB upload's garbage raise its
// peak RSS by 861 MB) and puts back the previous target afterwards; a lower
// target or GOGC=off is left alone.
func TestLargeImportGarbageCollectedAtLowerTarget(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	restore := lowerGCWhileImporting()
	nested := lowerGCWhileImporting()
	nested()
	if got := gcPercent(); got != importGCPercent {
		t.Errorf("GC target while an import runs: %d, want %d", got, importGCPercent)
	}
	restore()
	if got := gcPercent(); got != 400 {
		t.Errorf("GC target after the imports: %d, want 400 back", got)
	}
	for _, prev := range []int{50, -1} {
		debug.SetGCPercent(prev)
		r := lowerGCWhileImporting()
		got := gcPercent()
		r()
		if got != prev {
			t.Errorf("GOGC %d became %d during an import", prev, got)
		}
	}
}

// gcPercent reads the GC target (SetGCPercent is the only accessor).
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}
