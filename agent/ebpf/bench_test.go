package ebpf

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/flowlens/flowlens/agent/collect"
	"golang.org/x/sys/unix"
)

// BenchmarkShortConnections measures what the collector costs per 1,000
// short loopback connections (each sends 100 bytes, gets 2 back, closes),
// against the CPU of the workload itself:
//
//	agent-cpu-ms/1k   the collector's user-space CPU (this process)
//	bpf-ms/1k         time spent in the sock_ops program (kernel, charged to the workload)
//	workload-cpu-ms/1k client and server CPU
//	agent-%           (agent + bpf) / workload
//
// Run: go test -run '^$' -bench ShortConnections -benchtime 5x ./agent/ebpf/
func BenchmarkShortConnections(b *testing.B) {
	e := newEnv(b, false)
	// As in the agent, no periodic snapshots (the agent asks for one
	// before each report): this measures the per-connection cost.
	r := startCollector(b, e, Options{SnapshotEvery: time.Hour})
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Skipf("bpf run-time stats: %v", err)
	}
	defer stats.Close()
	addr := freeAddrTB(b)
	srv := e.helper("serve", addr)
	start(b, srv)
	prog0, runs0 := progRuntime(b, r)
	self0, child0, srv0 := cpu(syscall.RUSAGE_SELF), cpu(syscall.RUSAGE_CHILDREN), procCPU(b, srv.Process.Pid)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run(b, e.helper("clients", addr, "1000", "100"))
	}
	time.Sleep(2 * DefaultSnapshotEvery) // the collector's share of the last connections
	b.StopTimer()
	self := cpu(syscall.RUSAGE_SELF) - self0
	work := cpu(syscall.RUSAGE_CHILDREN) - child0 + procCPU(b, srv.Process.Pid) - srv0
	prog, runs := progRuntime(b, r)
	prog, runs = prog-prog0, runs-runs0
	n := float64(b.N)
	b.ReportMetric(ms(self)/n, "agent-cpu-ms/1k")
	b.ReportMetric(ms(prog)/n, "bpf-ms/1k")
	b.ReportMetric(ms(work)/n, "workload-cpu-ms/1k")
	b.ReportMetric(100*float64(self+prog)/float64(work), "agent-%")
	b.ReportMetric(float64(runs)/n/1000, "bpf-runs/conn")
	b.ReportMetric(float64(prog.Nanoseconds())/float64(max(runs, 1)), "bpf-ns/run")
	b.Logf("events %d, stats %+v", len(r.events(func(*collect.Event) bool { return true })), r.c.Stats())
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// cpu returns user + system time of this process or its waited-for children.
func cpu(who int) time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU returns a running process's user + system time.
func procCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(raw)[strings.LastIndexByte(string(raw), ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

func progRuntime(b *testing.B, r *recorder) (time.Duration, uint64) {
	st, err := r.c.objs.core.Prog.Stats()
	if err != nil {
		b.Fatal(err)
	}
	return st.Runtime, st.RunCount
}
