// Command flowlens-diagbench measures flowlens diagnose rejects: it
// generates a configuration of --interfaces interfaces and a flow-log file
// of --records records (diagnose.GenerateConfig/GenerateFlowLog), then
// reads, pairs, explains and groups it as the CLI does, and prints the
// figures: wall time of each phase, and the process's user and system CPU
// time of the whole analysis (so that a loaded machine's wall time can be
// told apart from the work done).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/flowlens/flowlens/flowlog/source"

	"github.com/flowlens/flowlens/diagnose"
	"github.com/flowlens/flowlens/diagnose/awsconfig"
	"github.com/flowlens/flowlens/diagnose/logfiles"
)

func main() {
	records := flag.Int("records", 10_000_000, "flow-log records to generate")
	ifaces := flag.Int("interfaces", 1000, "interfaces in the generated configuration")
	dir := flag.String("dir", "", "where to write the configuration and the log (default: a temporary directory, removed after)")
	reuse := flag.Bool("reuse", false, "with -dir: analyse the configuration and log an earlier run left there instead of generating them")
	workers := flag.Int("workers", 0, "parsing and explaining goroutines (default GOMAXPROCS)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the analysis (not the generation) here")
	flag.Parse()
	if *reuse && *dir == "" {
		fmt.Fprintln(os.Stderr, "flowlens-diagbench: -reuse needs -dir")
		os.Exit(2)
	}
	if err := run(*records, *ifaces, *dir, *workers, *reuse, *cpuprofile); err != nil {
		fmt.Fprintln(os.Stderr, "flowlens-diagbench:", err)
		os.Exit(1)
	}
}

func run(records, ifaces int, dir string, workers int, reuse bool, cpuprofile string) error {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "diagbench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	cfgDir := filepath.Join(dir, "aws")
	logPath := filepath.Join(dir, "flows.log")
	if !reuse {
		if err := generate(cfgDir, logPath, records, ifaces); err != nil {
			return err
		}
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	// What the CLI does: load the configuration, read, group.
	user0, sys0 := cpuTimes()
	t0 := time.Now()
	cfg, err := awsconfig.Load(cfgDir, awsconfig.Limits{})
	if err != nil {
		return err
	}
	m := diagnose.Compile(cfg)
	tLoad := time.Since(t0)
	inputs, err := source.ExpandPaths(context.Background(), []string{logPath}, source.SourceOptions{})
	if err != nil {
		return err
	}
	g, stats, err := logfiles.Read(context.Background(), inputs, m, logfiles.Options{Workers: workers})
	if err != nil {
		return err
	}
	tRead := time.Since(t0) - tLoad
	causes, err := g.Causes(workers)
	if err != nil {
		return err
	}
	total := time.Since(t0)
	user1, sys1 := cpuTimes()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("interfaces %d, GOMAXPROCS %d, workers %d\n", m.Interfaces(), runtime.GOMAXPROCS(0), workers)
	fmt.Printf("wall: config load %.2fs, read+parse %.2fs, pair+explain+group %.2fs, total %.2fs (%.1f M records/s)\n",
		tLoad.Seconds(), tRead.Seconds(), (total - tLoad - tRead).Seconds(), total.Seconds(), float64(stats.Records)/total.Seconds()/1e6)
	fmt.Printf("cpu: user %.2fs, system %.2fs (analysis only)\n", (user1 - user0).Seconds(), (sys1 - sys0).Seconds())
	fmt.Printf("records %d, rejects %d, bad lines %d, causes %d, heap in use %d MB, total allocated %d MB, GC cycles %d\n",
		stats.Records, stats.Rejects, stats.BadLines, len(causes), ms.HeapInuse>>20, ms.TotalAlloc>>20, ms.NumGC)
	for _, c := range causes[:min(5, len(causes))] {
		fmt.Printf("  %-28s %-24s %-7s flows %8d records %8d\n", c.Code, c.ComponentID, c.Direction, c.Flows, c.Records)
	}
	return nil
}

func generate(cfgDir, logPath string, records, ifaces int) error {
	if err := os.MkdirAll(cfgDir, 0o755); err != nil {
		return err
	}
	gc := diagnose.GenConfig{Interfaces: ifaces, Records: records, Seed: 1, Start: time.Now().Add(-2 * time.Hour).Unix()}
	for name, data := range diagnose.GenerateConfig(gc) {
		if err := os.WriteFile(filepath.Join(cfgDir, name), data, 0o644); err != nil {
			return err
		}
	}
	t0 := time.Now()
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	if err := diagnose.GenerateFlowLog(f, gc); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	st, err := os.Stat(logPath)
	if err != nil {
		return err
	}
	fmt.Printf("generated %d records (%.0f MB) in %.1fs\n", records, float64(st.Size())/1e6, time.Since(t0).Seconds())
	return nil
}

// cpuTimes is the process's user and system CPU time so far.
func cpuTimes() (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}
