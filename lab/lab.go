// Package lab builds a small network of simulated hosts on one machine out
// of network namespaces, veth pairs and bridges, so that the agent can be
// measured against real TCP traffic with real faults.
//
// The shape (NewSpec) follows examples/topology.yaml: two zones, each with
// two subnets of two hosts. Each zone has a router namespace ("fl-ra",
// "fl-rb") that holds the zone's subnet bridges and routes between them;
// the two routers are joined by one veth pair, the inter-zone link, which
// is where link faults go. Every host has its own cgroup v2 directory and
// every process the lab runs for a host is born in that host's namespace
// and cgroup, so a per-host eBPF agent sees exactly that host's sockets.
//
// Everything the lab creates is recorded in a state file after each step;
// Down (and a failing Up) removes exactly what it lists.
package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Sentinel errors callers test for.
var (
	ErrNotRoot     = errors.New("the lab needs root (network namespaces, cgroups, nft, tc)")
	ErrAlreadyUp   = errors.New("lab is already up")
	ErrNotUp       = errors.New("lab is not up")
	ErrUnknownHost = errors.New("unknown lab host")
)

// Config says which lab to build or open. Zero values take defaults.
type Config struct {
	// Name prefixes every namespace (default "fl").
	Name string
	// StateRoot holds NAME.json and the state directory NAME/ (default
	// /run/flowlens-lab).
	StateRoot string
	// CgroupRoot is the parent of the host cgroups (default
	// <cgroup v2 mount>/flowlens-lab).
	CgroupRoot string
	// WireSizedPackets makes hosts send MTU-sized packets (gso_max_segs 1)
	// instead of 64 KB GSO super-packets, so that a loss rate applies per
	// segment as on a real wire and the shaper queues real packets.
	// Default true; set DisableWireSizedPackets to turn it off.
	DisableWireSizedPackets bool
	// Agents, when set, starts one flowlens-agent per host after Up.
	Agents *AgentConfig
	Logger *slog.Logger
}

func (c *Config) defaults() error {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if err := ValidateName(c.Name); err != nil {
		return err
	}
	if c.StateRoot == "" {
		c.StateRoot = DefaultStateRoot
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Lab is a running lab. Its methods are safe for concurrent use.
type Lab struct {
	cfg   Config
	log   *slog.Logger
	r     runner
	mu    sync.Mutex
	state *State
	down  bool
	procs map[int]*Process
}

// CheckRoot returns ErrNotRoot unless the process runs as root.
func CheckRoot() error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	return nil
}

func newLab(cfg Config) *Lab {
	return &Lab{cfg: cfg, log: cfg.Logger.With("lab", cfg.Name), r: runner{log: cfg.Logger}, procs: map[int]*Process{}}
}

// Up builds the lab. It refuses (ErrAlreadyUp) when the lab's state file
// exists or any of its namespaces does; when a step fails, everything
// created so far is removed before the error is returned.
func Up(ctx context.Context, cfg Config) (*Lab, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if err := CheckRoot(); err != nil {
		return nil, err
	}
	if cfg.Agents != nil {
		// Fail before building anything when the agent cannot start.
		bin, err := ResolveAgentBin(cfg.Agents.Bin)
		if err != nil {
			return nil, err
		}
		cfg.Agents.Bin = bin
	}
	l := newLab(cfg)
	unlock, err := lockState(cfg.StateRoot, cfg.Name)
	if err != nil {
		return nil, err
	}
	err = l.up(ctx)
	if err != nil && l.state != nil {
		l.log.Warn("lab up failed; removing what was created", "err", err)
		// The caller's context may be what failed; cleanup gets its own.
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err = errors.Join(err, l.teardown(cctx))
		cancel()
	}
	unlock()
	if err != nil {
		return nil, err
	}
	if cfg.Agents != nil {
		if err := l.StartAgents(ctx, *cfg.Agents); err != nil {
			cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			return nil, errors.Join(err, l.Down(cctx))
		}
	}
	return l, nil
}

// up does the work of Up under the lock.
func (l *Lab) up(ctx context.Context) error {
	path := stateFile(l.cfg.StateRoot, l.cfg.Name)
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%w: %s exists (run `flowlens lab down --name %s` first)", ErrAlreadyUp, path, l.cfg.Name)
	}
	mount, err := Cgroup2Mount()
	if err != nil {
		return err
	}
	cgRoot := l.cfg.CgroupRoot
	if cgRoot == "" {
		cgRoot = filepath.Join(mount, CgroupDirName)
	}
	spec := NewSpec(l.cfg.Name, cgRoot)
	if left := existingNamespaces(spec.Namespaces()); len(left) > 0 {
		return fmt.Errorf("%w: namespaces %s exist without a state file (remove them with `flowlens lab down --name %s --force`)",
			ErrAlreadyUp, strings.Join(left, ", "), l.cfg.Name)
	}
	for _, tool := range []string{"ip", "nft", "tc"} {
		if _, err := execLookPath(tool); err != nil {
			return fmt.Errorf("lab needs %s: %w", tool, err)
		}
	}
	l.state = &State{
		Name: l.cfg.Name, Created: time.Now().UTC(), CgroupRoot: cgRoot, Cgroup2Mount: mount, Spec: spec,
		StateDir: filepath.Join(l.cfg.StateRoot, l.cfg.Name),
	}
	if err := os.MkdirAll(l.state.StateDir, 0o755); err != nil {
		return fmt.Errorf("lab state dir: %w", err)
	}
	if err := l.save(); err != nil {
		return err
	}
	start := time.Now()
	if err := l.build(ctx); err != nil {
		return err
	}
	l.state.Complete = true
	l.log.Info("lab up", "hosts", len(spec.Hosts), "took", time.Since(start).Round(time.Millisecond))
	return l.save()
}

// Open attaches to a lab that is up (from another process, or after the
// CLI that made it exited).
func Open(cfg Config) (*Lab, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	st, err := readState(stateFile(cfg.StateRoot, cfg.Name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no state file %s", ErrNotUp, stateFile(cfg.StateRoot, cfg.Name))
	}
	if err != nil {
		return nil, err
	}
	l := newLab(cfg)
	l.state = st
	return l, nil
}

// save writes the in-memory state; callers hold the lock.
func (l *Lab) save() error {
	return writeState(stateFile(l.cfg.StateRoot, l.cfg.Name), l.state)
}

// locked runs fn under the lab's lock with the state freshly read from
// disk, so that changes made by other processes are kept.
func (l *Lab) locked(fn func() error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		return ErrNotUp
	}
	unlock, err := lockState(l.cfg.StateRoot, l.cfg.Name)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := readState(stateFile(l.cfg.StateRoot, l.cfg.Name))
	if errors.Is(err, fs.ErrNotExist) {
		l.down = true
		return ErrNotUp
	}
	if err != nil {
		return err
	}
	l.state = st
	return fn()
}

// snapshot is a copy of the current state for readers.
func (l *Lab) snapshot() State {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := *l.state
	s.Processes = slices.Clone(s.Processes)
	s.Impairments = slices.Clone(s.Impairments)
	return s
}

// Name is the lab's name.
func (l *Lab) Name() string { return l.cfg.Name }

// Spec is the lab's plan: hosts, routers, addresses.
func (l *Lab) Spec() Spec { return l.snapshot().Spec }

// StateDir is the lab's directory for logs, configs and agent spools.
func (l *Lab) StateDir() string { return l.snapshot().StateDir }

// Hosts lists the lab's hosts.
func (l *Lab) Hosts() []Host { return l.Spec().Hosts }

// Host finds a host by full ("fl-a1-h1") or short ("a1-h1") name.
func (l *Lab) Host(name string) (Host, error) {
	s := l.Spec()
	h, ok := s.Host(name)
	if !ok {
		return Host{}, fmt.Errorf("%w %q (hosts: %s)", ErrUnknownHost, name, s.hostNames())
	}
	return h, nil
}

// HostIP is a host's address, or the zero Addr for an unknown host.
func (l *Lab) HostIP(name string) netip.Addr {
	h, _ := l.Host(name)
	return h.IP()
}

// HostCgroup is the absolute path of a host's cgroup v2 directory.
func (l *Lab) HostCgroup(name string) string {
	h, _ := l.Host(name)
	return h.Cgroup
}

// HostNetns is the name of a host's network namespace (under /run/netns).
func (l *Lab) HostNetns(name string) string {
	h, _ := l.Host(name)
	return h.Name
}

// Exec runs argv in a host's namespace and cgroup and returns its stdout.
// The error names the command and carries its stderr.
func (l *Lab) Exec(ctx context.Context, host string, argv ...string) ([]byte, error) {
	h, err := l.Host(host)
	if err != nil {
		return nil, err
	}
	return execIn(ctx, h.Name, h.Cgroup, argv)
}

// ExecRouter runs argv in a zone's router namespace ("zone-a"), e.g. to read
// `tc -s qdisc` or `nft list ruleset`.
func (l *Lab) ExecRouter(ctx context.Context, zone string, argv ...string) ([]byte, error) {
	r, ok := l.Spec().Router(zone)
	if !ok {
		return nil, fmt.Errorf("no router for zone %q", zone)
	}
	return execIn(ctx, r.Name, "", argv)
}

// Start runs argv in the background in a host's namespace and cgroup. The
// process is recorded in the state file, so Down (from any process) stops
// it; it is removed from the record when it exits while this Lab watches.
func (l *Lab) Start(host string, argv ...string) (*Process, error) {
	return l.StartRole(host, baseName(argv), argv...)
}

// StartRole is Start with a role that names the process in status and logs.
func (l *Lab) StartRole(host, role string, argv ...string) (*Process, error) {
	h, err := l.Host(host)
	if err != nil {
		return nil, err
	}
	return l.start(h.Short, h.Name, h.Cgroup, role, argv)
}

// start launches and records a process; netns and cgroup are empty for
// processes of the root namespace (agents).
func (l *Lab) start(host, netns, cgroup, role string, argv []string) (*Process, error) {
	var p *Process
	err := l.locked(func() error {
		logs := filepath.Join(l.state.StateDir, "logs")
		if err := os.MkdirAll(logs, 0o755); err != nil {
			return err
		}
		base := filepath.Join(logs, fmt.Sprintf("%s-%s-%d", orDash(host), role, time.Now().UnixNano()))
		cmd, err := launch(netns, cgroup, argv, base+".out", base+".err")
		if err != nil {
			return err
		}
		st, _, err := procStartTime(cmd.Process.Pid)
		if err != nil {
			l.log.Warn("read start time", "pid", cmd.Process.Pid, "err", err)
		}
		p = &Process{ProcRecord: ProcRecord{
			PID: cmd.Process.Pid, StartTime: st, Host: host, Role: role, Argv: redact(argv),
			Stdout: base + ".out", Stderr: base + ".err",
		}, lab: l, cmd: cmd, done: make(chan struct{})}
		l.state.Processes = append(l.state.Processes, p.ProcRecord)
		l.procs[p.PID] = p
		return l.save()
	})
	if err != nil {
		if p != nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
		return nil, err
	}
	l.log.Debug("started", "host", host, "role", role, "pid", p.PID, "cmd", strings.Join(argv, " "))
	go p.reap()
	return p, nil
}

// reap waits for the process and drops its record once it has exited.
func (p *Process) reap() {
	p.err = p.cmd.Wait()
	close(p.done)
	l := p.lab
	l.locked(func() error {
		delete(l.procs, p.PID)
		l.state.Processes = slices.DeleteFunc(l.state.Processes, func(r ProcRecord) bool {
			return r.PID == p.PID && r.StartTime == p.StartTime
		})
		return l.save()
	})
}

// Processes lists the recorded processes with whether each still runs.
func (l *Lab) Processes() []ProcStatus {
	var out []ProcStatus
	for _, r := range l.snapshot().Processes {
		out = append(out, ProcStatus{ProcRecord: r, Alive: r.alive()})
	}
	return out
}

// ProcStatus is a recorded process and whether it still runs.
type ProcStatus struct {
	ProcRecord
	Alive bool `json:"alive"`
}

// stopRole stops the recorded processes whose role satisfies match.
func (l *Lab) stopRole(match func(role string) bool) error {
	var stop []ProcRecord
	var own []*Process
	err := l.locked(func() error {
		for _, r := range l.state.Processes {
			if match(r.Role) {
				if p := l.procs[r.PID]; p != nil {
					own = append(own, p)
				} else {
					stop = append(stop, r)
				}
			}
		}
		l.state.Processes = slices.DeleteFunc(l.state.Processes, func(r ProcRecord) bool {
			return match(r.Role) && l.procs[r.PID] == nil
		})
		return l.save()
	})
	if err != nil {
		return err
	}
	errs := make([]error, len(own))
	var wg sync.WaitGroup
	for _, r := range stop {
		wg.Add(1)
		go func() { defer wg.Done(); stopRecorded(r, 3*time.Second) }()
	}
	for i, p := range own {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.Stop()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Down stops every process the lab started and removes everything it
// created. It keeps going past failures and reports them all; whatever
// could not be removed stays listed in the state file so that Down can be
// run again.
func (l *Lab) Down(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		return nil
	}
	unlock, err := lockState(l.cfg.StateRoot, l.cfg.Name)
	if err != nil {
		return err
	}
	defer unlock()
	if st, err := readState(stateFile(l.cfg.StateRoot, l.cfg.Name)); err == nil {
		l.state = st
	} else if errors.Is(err, fs.ErrNotExist) {
		l.down = true
		return nil
	} else {
		return err
	}
	return l.teardown(ctx)
}

// Down removes the lab named in cfg from its state file. With force and no
// state file, it removes whatever namespaces and cgroups of the lab's plan
// exist (for a state file lost by hand).
func Down(ctx context.Context, cfg Config, force bool) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	if err := CheckRoot(); err != nil {
		return err
	}
	l, err := Open(cfg)
	if err == nil {
		return l.Down(ctx)
	}
	if !errors.Is(err, ErrNotUp) {
		return err
	}
	mount, merr := Cgroup2Mount()
	if merr != nil {
		return errors.Join(err, merr)
	}
	spec := NewSpec(cfg.Name, filepath.Join(mount, CgroupDirName))
	left := existingNamespaces(spec.Namespaces())
	var cgs []string
	for _, h := range spec.Hosts {
		if _, err := os.Stat(h.Cgroup); err == nil {
			cgs = append(cgs, h.Cgroup)
		}
	}
	if len(left) == 0 && len(cgs) == 0 {
		return fmt.Errorf("%w: no state file and nothing of lab %q exists", ErrNotUp, cfg.Name)
	}
	if !force {
		return fmt.Errorf("%w: no state file, but %d namespaces and %d cgroups of lab %q exist; use --force to remove them",
			ErrNotUp, len(left), len(cgs), cfg.Name)
	}
	unlock, lerr := lockState(cfg.StateRoot, cfg.Name)
	if lerr != nil {
		return lerr
	}
	defer unlock()
	l = newLab(cfg)
	l.state = &State{Name: cfg.Name, Spec: spec, Namespaces: left, Cgroups: cgs, Cgroup2Mount: mount,
		CgroupRoot: filepath.Join(mount, CgroupDirName), StateDir: filepath.Join(cfg.StateRoot, cfg.Name)}
	return l.teardown(ctx)
}

// teardown removes what the state lists, in dependency order: processes
// (they hold namespaces and cgroups), cgroups, namespaces (their links,
// bridges, nft tables and qdiscs go with them), then the state itself.
func (l *Lab) teardown(ctx context.Context) error {
	st := l.state
	var errs []error
	l.stopAll()
	var keptCg []string
	for _, cg := range slices.Backward(st.Cgroups) {
		if err := l.emptyCgroup(cg); err != nil {
			errs = append(errs, err)
		}
		if err := removeCgroup(cg); err != nil {
			errs = append(errs, err)
			keptCg = append(keptCg, cg)
		}
	}
	if st.CgroupRoot != "" {
		syscall.Rmdir(st.CgroupRoot) // shared by all labs: only if empty
	}
	var keptNs []string
	for _, ns := range slices.Backward(st.Namespaces) {
		if err := l.deleteNetns(ctx, ns); err != nil {
			errs = append(errs, err)
			keptNs = append(keptNs, ns)
		}
	}
	st.Processes, st.Cgroups, st.Namespaces, st.Impairments = nil, keptCg, keptNs, nil
	if len(errs) > 0 {
		errs = append(errs, l.save())
		return fmt.Errorf("lab %s down left things behind (listed in %s): %w",
			st.Name, stateFile(l.cfg.StateRoot, st.Name), errors.Join(errs...))
	}
	if err := os.RemoveAll(st.StateDir); err != nil {
		return fmt.Errorf("remove lab state dir: %w", err)
	}
	os.Remove(stateFile(l.cfg.StateRoot, st.Name))
	os.Remove(lockFile(l.cfg.StateRoot, st.Name))
	l.down = true
	l.log.Info("lab down")
	return nil
}

// stopAll stops every recorded process in parallel: those this Lab started
// through their Process (which reaps them), the others by verified PID.
func (l *Lab) stopAll() {
	var wg sync.WaitGroup
	for _, r := range l.state.Processes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p := l.procs[r.PID]; p != nil {
				p.Stop()
				return
			}
			stopRecorded(r, 3*time.Second)
		}()
	}
	wg.Wait()
}

// emptyCgroup empties a host cgroup before removal. What is left after the
// recorded processes were stopped is the lab's by birth (children of its
// processes, Exec leftovers) when it runs in the lab host's namespace, and
// is killed; anything else was put there by someone else and is moved back
// to the cgroup v2 root instead.
func (l *Lab) emptyCgroup(cg string) error {
	hostNs := filepath.Base(cg)
	ino, inoErr := netnsInode(filepath.Join("/run/netns", hostNs))
	for range 50 {
		pids, err := cgroupPIDs(cg)
		if errors.Is(err, fs.ErrNotExist) || (err == nil && len(pids) == 0) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list cgroup %s: %w", cg, err)
		}
		for _, pid := range pids {
			if pino, err := procNetnsInode(pid); inoErr == nil && err == nil && pino == ino {
				syscall.Kill(pid, syscall.SIGKILL)
				continue
			}
			l.log.Warn("moving a process the lab did not start out of its cgroup", "pid", pid, "cgroup", cg)
			if err := moveToCgroup(l.state.Cgroup2Mount, pid); err != nil {
				l.log.Warn("move process out of lab cgroup", "pid", pid, "err", err)
			}
		}
		time.Sleep(40 * time.Millisecond)
	}
	return fmt.Errorf("cgroup %s still has processes", cg)
}

// deleteNetns removes a namespace. Processes still inside it would keep it
// alive unnamed, so they are reported (the lab does not kill what it did
// not start).
func (l *Lab) deleteNetns(ctx context.Context, ns string) error {
	if _, err := os.Stat(filepath.Join("/run/netns", ns)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if out, err := l.r.run(ctx, "ip", "netns", "pids", ns); err == nil && strings.TrimSpace(out) != "" {
		l.log.Warn("processes the lab did not start are still in its namespace; it stays alive until they exit",
			"netns", ns, "pids", strings.Fields(out))
	}
	_, err := l.r.run(ctx, "ip", "netns", "del", ns)
	return err
}

// existingNamespaces returns those of names present under /run/netns.
func existingNamespaces(names []string) []string {
	var out []string
	for _, n := range names {
		if _, err := os.Stat(filepath.Join("/run/netns", n)); err == nil {
			out = append(out, n)
		}
	}
	return out
}

var execLookPath = exec.LookPath

// redact hides the value of --token in a recorded command line: the state
// file is world-readable.
func redact(argv []string) []string {
	out := slices.Clone(argv)
	for i := 1; i < len(out); i++ {
		if out[i-1] == "--token" {
			out[i] = "REDACTED"
		}
	}
	return out
}

func baseName(argv []string) string {
	if len(argv) == 0 {
		return "proc"
	}
	return filepath.Base(argv[0])
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
