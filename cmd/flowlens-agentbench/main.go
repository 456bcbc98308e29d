// Command flowlens-agentbench measures what flowlens-agent costs against
// the traffic it watches. For each scenario it runs a loopback workload
// (client and server processes in a cgroup of their own) three times: with
// no agent, with the real flowlens-agent binary in eBPF mode (attached to
// the workload's cgroup) and in sock_diag mode, each agent reporting to a
// local sink that acknowledges like the server. It prints, per run, the
// agent's CPU time divided by the workload's CPU time over the same
// window, the time spent in the agent's sock_ops program (which the kernel
// charges to the workload), and the agent's resident memory.
//
// Scenarios: "short", new connections at --rate per second (one 100-byte
// exchange each, then close); "long", --conns concurrent connections each
// making one 100-byte exchange every --period.
//
// Run as root (eBPF, cgroups):
//
//	go build -o /tmp/flowlens-agent ./cmd/flowlens-agent
//	go build -o /tmp/flowlens-agentbench ./cmd/flowlens-agentbench
//	sudo /tmp/flowlens-agentbench --agent-bin /tmp/flowlens-agent
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/flowlens/flowlens/flow"
	"github.com/flowlens/flowlens/lab"
	"github.com/flowlens/flowlens/wire"
)

type options struct {
	agentBin  string
	agentArgs []string // --agent-args: more flags for every agent run
	scenarios []string
	modes     []string
	duration  time.Duration
	warmup    time.Duration
	interval  time.Duration
	rate      int   // the short scenario's rate of this run
	rates     []int // --rate: one short run per rate
	conns     int
	period    time.Duration
}

func main() {
	if role := os.Getenv(roleEnv); role != "" {
		if err := runRole(role, os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "flowlens-agentbench", role+":", err)
			os.Exit(1)
		}
		return
	}
	var o options
	var scenarios, modes, rates, agentArgs string
	flag.StringVar(&o.agentBin, "agent-bin", "", "flowlens-agent binary (default: next to this command, else on $PATH)")
	flag.StringVar(&agentArgs, "agent-args", "", "more flags for the agent, space-separated (e.g. \"--cpu-profile /tmp/agent.pprof\"; the last run's profile is kept)")
	flag.StringVar(&scenarios, "scenarios", "short,long", "scenarios to run: short, long")
	flag.StringVar(&modes, "modes", "none,ebpf,sockdiag", "runs per scenario: none (workload alone), ebpf, sockdiag")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "measured window of each run")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Second, "workload time before the window")
	flag.DurationVar(&o.interval, "interval", 10*time.Second, "the agent's --interval")
	flag.StringVar(&rates, "rate", "1000", "short: new connections per second; a comma-separated list runs the scenario once per rate (a sweep: 100,1000,5000)")
	flag.IntVar(&o.conns, "conns", 10000, "long: concurrent connections")
	flag.DurationVar(&o.period, "period", time.Second, "long: time between two exchanges of a connection")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: flowlens-agentbench [flags]  (root)\n\n%s\n", strings.TrimSpace(usage))
		flag.PrintDefaults()
	}
	flag.Parse()
	o.scenarios = strings.Split(scenarios, ",")
	o.modes = strings.Split(modes, ",")
	o.agentArgs = strings.Fields(agentArgs)
	var err error
	if o.rates, err = parseRates(rates); err != nil {
		fmt.Fprintln(os.Stderr, "flowlens-agentbench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "flowlens-agentbench:", err)
		os.Exit(1)
	}
}

const usage = `
Measures flowlens-agent's CPU time against the CPU time of the loopback
workload it watches (client and server processes in their own cgroup), in
eBPF and sock_diag mode, plus the agent's RSS. Example:

  sudo flowlens-agentbench --agent-bin /tmp/flowlens-agent --scenarios short --rate 1000
`

func run(ctx context.Context, o options) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (eBPF, cgroups)")
	}
	if o.agentBin == "" {
		o.agentBin = defaultAgentBin()
	}
	root, err := lab.Cgroup2Mount()
	if err != nil {
		return err
	}
	sink := newSink()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: sink, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()
	// BPF run-time statistics, for the time spent in the sock_ops program.
	// They cost a clock read per program run, counted in the workload.
	if st, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME)); err == nil {
		defer st.Close()
	} else {
		fmt.Fprintln(os.Stderr, "bpf run-time stats unavailable:", err)
	}
	fmt.Printf("agent %s, window %s after %s warm-up, agent interval %s, %d CPUs\n",
		o.agentBin, o.duration, o.warmup, o.interval, numCPU())
	fmt.Println("op: a new connection (short) or an exchange on a live connection (long); µs/op = CPU time / ops in the window")
	fmt.Printf("%-11s %-9s %12s %12s %10s %10s %9s %9s %9s %9s %9s %9s  %s\n", "scen.", "agent", "workload-ms", "agent-ms", "agent-%", "+bpf-%", "bpf-ms",
		"ops", "agent-µs", "bpf-µs", "rss-MB", "hwm-MB", "notes")
	for _, sc := range o.scenarios {
		rates := []int{0}
		if sc == "short" {
			rates = o.rates
		}
		for _, rate := range rates {
			o.rate = rate
			label := sc
			if sc == "short" {
				label = fmt.Sprintf("short@%d", rate)
			}
			for _, mode := range o.modes {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				r, err := runOnce(ctx, o, root, "http://"+ln.Addr().String(), sink, sc, mode)
				if err != nil {
					return fmt.Errorf("%s/%s: %w", label, mode, err)
				}
				r.ops = o.opsIn(sc)
				r.print(label, mode)
			}
		}
	}
	return nil
}

// parseRates reads --rate: connections per second, comma-separated.
func parseRates(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 100_000 {
			return nil, fmt.Errorf("--rate %q: want connections per second in 1-100000, comma-separated", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// opsIn is how many operations the workload makes in the measured window:
// new connections (short), or exchanges (long).
func (o options) opsIn(sc string) float64 {
	if sc == "short" {
		return float64(o.rate) * o.duration.Seconds()
	}
	return float64(o.conns) * o.duration.Seconds() / o.period.Seconds()
}

func defaultAgentBin() string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "flowlens-agent")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "flowlens-agent"
}

// result is one run's figures.
type result struct {
	workload, agent, bpf time.Duration
	bpfRuns              uint64
	rss, hwm             uint64  // bytes
	ops                  float64 // connections or exchanges in the window
	notes                string
}

func (r result) print(sc, mode string) {
	pct := func(d time.Duration) string {
		if r.workload <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", 100*float64(d)/float64(r.workload))
	}
	perOp := func(d time.Duration) string {
		return fmt.Sprintf("%.2f", float64(d.Nanoseconds())/1e3/max(r.ops, 1))
	}
	agentPct, bpfPct, rss, hwm, bpf, agentOp, bpfOp := "-", "-", "-", "-", "-", "-", "-"
	if mode != "none" {
		agentPct, bpfPct = pct(r.agent), pct(r.agent+r.bpf)
		rss, hwm = fmt.Sprintf("%.1f", float64(r.rss)/1e6), fmt.Sprintf("%.1f", float64(r.hwm)/1e6)
		bpf = fmt.Sprintf("%.1f", ms(r.bpf))
		agentOp, bpfOp = perOp(r.agent), perOp(r.bpf)
	}
	fmt.Printf("%-11s %-9s %12.0f %12.1f %10s %10s %9s %9.0f %9s %9s %9s %9s  %s\n", sc, mode, ms(r.workload), ms(r.agent), agentPct, bpfPct, bpf,
		r.ops, agentOp, bpfOp, rss, hwm, r.notes)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// runOnce runs one scenario with one agent mode (or none).
func runOnce(ctx context.Context, o options, root, sinkURL string, sink *sink, sc, mode string) (result, error) {
	var res result
	cg := filepath.Join(root, fmt.Sprintf("flowlens-agentbench-%d-%s-%s", os.Getpid(), sc, mode))
	if err := os.Mkdir(cg, 0o755); err != nil {
		return res, fmt.Errorf("create cgroup: %w", err)
	}
	defer os.Remove(cg)
	var procs []*exec.Cmd
	defer func() { // also on failure: nothing stays behind
		for _, p := range procs {
			p.Process.Kill()
			p.Wait()
		}
	}()

	var agent *exec.Cmd
	if mode != "none" {
		spool, err := os.MkdirTemp("", "flowlens-agentbench-spool")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(spool)
		args := []string{"--server", sinkURL, "--mode", mode, "--interval", o.interval.String(),
			"--host-id", "bench-" + mode, "--spool-dir", spool, "--metrics-listen", ""}
		if mode == "ebpf" {
			args = append(args, "--cgroup", cg)
		}
		args = append(args, o.agentArgs...)
		agent = exec.Command(o.agentBin, args...)
		agent.Stderr = os.Stderr
		agent.Env = append(os.Environ(), "FLOWLENS_TOKEN=bench") // not --token: /proc shows command lines
		if err := agent.Start(); err != nil {
			return res, fmt.Errorf("start agent: %w", err)
		}
		procs = append(procs, agent)
		time.Sleep(2 * time.Second) // loaded and attached
		if agent.ProcessState != nil {
			return res, errors.New("agent exited at start")
		}
	}
	sink.reset()

	server, out, _, err := startRole(cg, "server")
	if err != nil {
		return res, err
	}
	procs = append(procs, server)
	addr, err := out.ReadString('\n')
	if err != nil {
		return res, fmt.Errorf("server address: %w", err)
	}
	addr = strings.TrimSpace(addr)
	var clientArgs []string
	switch sc {
	case "short":
		clientArgs = []string{addr, strconv.Itoa(o.rate)}
	case "long":
		clientArgs = []string{addr, strconv.Itoa(o.conns), o.period.String()}
	default:
		return res, fmt.Errorf("unknown scenario %q", sc)
	}
	client, cout, stdin, err := startRole(cg, sc, clientArgs...)
	if err != nil {
		return res, err
	}
	procs = append(procs, client)
	if sc == "long" {
		line, err := cout.ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "connected" {
			return res, fmt.Errorf("long clients did not connect: %q %v", line, err)
		}
	}
	if err := sleep(ctx, o.warmup); err != nil {
		return res, err
	}

	w0, err := cgroupCPU(cg)
	if err != nil {
		return res, err
	}
	var a0 time.Duration
	var p0 progStats
	if agent != nil {
		a0, _ = procCPU(agent.Process.Pid)
		p0 = sockopsStats(agent.Process.Pid)
	}
	if err := sleep(ctx, o.duration); err != nil {
		return res, err
	}
	w1, err := cgroupCPU(cg)
	if err != nil {
		return res, err
	}
	res.workload = w1 - w0
	if agent != nil {
		a1, err := procCPU(agent.Process.Pid)
		if err != nil {
			return res, fmt.Errorf("agent CPU (did it exit?): %w", err)
		}
		p1 := sockopsStats(agent.Process.Pid)
		res.agent = a1 - a0
		res.bpf, res.bpfRuns = p1.runtime-p0.runtime, p1.runs-p0.runs
		res.rss, res.hwm = procMem(agent.Process.Pid)
	}

	stdin.Close()
	summary, _ := io.ReadAll(cout)
	client.Wait()
	procs = procs[:len(procs)-1]
	res.notes = strings.TrimSpace(string(summary))
	if agent != nil {
		agent.Process.Signal(syscall.SIGTERM) // publishes its last interval
		agent.Wait()
		procs = procs[1:]
		reps, opened := sink.totals()
		res.notes += fmt.Sprintf("; agent: %d reports, %d connections opened reported (client + server sides)", reps, opened)
		if res.bpfRuns > 0 {
			res.notes += fmt.Sprintf("; %d sock_ops runs, %.0f ns each", res.bpfRuns, float64(res.bpf)/float64(res.bpfRuns))
		}
	}
	return res, nil
}

// startRole starts this command as a workload role, born in cgroup cg;
// closing stdin asks it to stop.
func startRole(cg, role string, args ...string) (*exec.Cmd, *bufio.Reader, io.WriteCloser, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, nil, err
	}
	dir, err := os.Open(cg)
	if err != nil {
		return nil, nil, nil, err
	}
	defer dir.Close()
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), roleEnv+"="+role)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, fmt.Errorf("start %s: %w", role, err)
	}
	return cmd, bufio.NewReader(stdout), stdin, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// cgroupCPU is the CPU time of every process of a cgroup (cpu.stat
// usage_usec), including the ones that have exited.
func cgroupCPU(cg string) (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join(cg, "cpu.stat"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
			us, err := strconv.ParseInt(v, 10, 64)
			return time.Duration(us) * time.Microsecond, err
		}
	}
	return 0, fmt.Errorf("%s/cpu.stat: no usage_usec", cg)
}

// procCPU is the CPU time of every thread of a process, to the
// nanosecond (/proc/PID/task/*/schedstat; /proc/PID/stat counts 10 ms
// ticks). The agent's threads live as long as it does.
func procCPU(pid int) (time.Duration, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("process %d: no threads", pid)
	}
	var total time.Duration
	for _, t := range tasks {
		raw, err := os.ReadFile(t)
		if err != nil {
			continue // a thread that just exited
		}
		f := strings.Fields(string(raw))
		if len(f) == 0 {
			continue
		}
		ns, _ := strconv.ParseInt(f[0], 10, 64)
		total += time.Duration(ns)
	}
	return total, nil
}

// procMem returns a process's resident set size and its peak, in bytes.
func procMem(pid int) (rss, hwm uint64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseUint(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb * 1024
		case "VmHWM:":
			hwm = kb * 1024
		}
	}
	return rss, hwm
}

type progStats struct {
	runtime time.Duration
	runs    uint64
}

// sockopsStats sums the run-time statistics of the BPF programs the agent
// process holds (found through its file descriptors).
func sockopsStats(pid int) progStats {
	var ps progStats
	dir := fmt.Sprintf("/proc/%d/fdinfo", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return ps
	}
	seen := map[ebpf.ProgramID]bool{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			v, ok := strings.CutPrefix(line, "prog_id:")
			if !ok {
				continue
			}
			id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			if err != nil || seen[ebpf.ProgramID(id)] {
				continue
			}
			seen[ebpf.ProgramID(id)] = true
			p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
			if err != nil {
				continue
			}
			if st, err := p.Stats(); err == nil {
				ps.runtime += st.Runtime
				ps.runs += st.RunCount
			}
			p.Close()
		}
	}
	return ps
}

func numCPU() int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return 0
	}
	return set.Count()
}

// sink stands in for the server: it acknowledges every report and sums
// what they carry.
type sink struct {
	mu      sync.Mutex
	reports int
	opened  uint64
}

func newSink() *sink { return &sink{} }

func (s *sink) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reports, s.opened = 0, 0
}

func (s *sink) totals() (int, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reports, s.opened
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rep, err := wire.Decode(body, r.Header.Get("Content-Encoding"), 256<<20)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var opened uint64
	for _, f := range rep.GetFlows() {
		var rec flow.Record
		wire.ToRecord(f, &rec)
		opened += rec.Counters.ConnectionsOpened
	}
	s.mu.Lock()
	s.reports++
	s.opened += opened
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}
