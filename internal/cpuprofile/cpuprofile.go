// Package cpuprofile starts a Go CPU profile for the commands' profiling
// flags (--cpuprofile, --cpu-profile).
package cpuprofile

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// Start writes a CPU profile to path until stop is called; an empty path
// profiles nothing. hz > 0 sets the sampling rate (Go's default is 100 Hz,
// too coarse for a mostly idle process such as the agent).
func Start(path string, hz int) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err // names the path
	}
	if hz > 0 {
		runtime.SetCPUProfileRate(hz)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
