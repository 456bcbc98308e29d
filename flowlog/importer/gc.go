package importer

import (
	"runtime/debug"
	"sync"
)

// importGCPercent is the garbage collector's target while an import runs.
// `flowlens server` runs with GOGC=400 for ingest's sake; an import's
// garbage (a few hundred MB per GiB of text) then piles up to five times
// the importer's live chunks before a collection, and one 2 GiB upload
// raised the server's peak RSS by 861 MB; at 100, by 395 MB, with the same
// import speed (issue 12, BENCHMARKS.md).
const importGCPercent = 100

// importGC lowers the GC target while at least one import runs and puts
// back what was there before when the last one ends.
var importGC struct {
	sync.Mutex
	running int
	prev    int
}

// lowerGCWhileImporting lowers the GC target (never raises it, and leaves
// GOGC=off alone) until the returned function is called.
func lowerGCWhileImporting() (restore func()) {
	importGC.Lock()
	defer importGC.Unlock()
	if importGC.running == 0 {
		importGC.prev = debug.SetGCPercent(importGCPercent)
		if importGC.prev < importGCPercent { // already lower, or off (-1)
			debug.SetGCPercent(importGC.prev)
		}
	}
	importGC.running++
	return func() {
		importGC.Lock()
		defer importGC.Unlock()
		importGC.running--
		if importGC.running == 0 {
			debug.SetGCPercent(importGC.prev)
		}
	}
}
