package ebpf

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/rlimit"
)

// ErrUnavailable wraps every reason the eBPF collector cannot run here (not
// root, no BTF, a verifier rejection, no cgroup v2): the agent falls back
// to sock_diag when errors.Is(err, ErrUnavailable).
var ErrUnavailable = errors.New("eBPF collector unavailable")

// core is what the sock_ops program needs: its maps and the program.
type core struct {
	Prog   *ebpf.Program `ebpf:"flowlens_sockops"`
	Socks  *ebpf.Map     `ebpf:"socks"`
	Events *ebpf.Map     `ebpf:"events"`
	Stats  *ebpf.Map     `ebpf:"stats"`
	// RTTBudgets is each CPU's RTT budget (sockopsRttBudgetState).
	RTTBudgets *ebpf.Map `ebpf:"rtt_budgets"`
	// FlowMaps holds the flow map closing sockets add to; FlowsA and
	// FlowsB are the two flow maps it swaps between (see drainFlows).
	FlowMaps *ebpf.Map `ebpf:"flow_maps"`
	FlowsA   *ebpf.Map `ebpf:"flows_a"`
	FlowsB   *ebpf.Map `ebpf:"flows_b"`
	FlowZero *ebpf.Map `ebpf:"flow_zero"`
	// BSS holds the variables user space writes while the program runs;
	// the iterator shares it.
	BSS       *ebpf.Map      `ebpf:".bss"`
	SnapGen   *ebpf.Variable `ebpf:"snap_gen"`
	UpdateCbs *ebpf.Variable `ebpf:"update_cbs"`
}

func (c *core) close() {
	for _, cl := range []interface{ Close() error }{c.Prog, c.Socks, c.Events, c.Stats, c.RTTBudgets,
		c.FlowMaps, c.FlowsA, c.FlowsB, c.FlowZero, c.BSS} {
		if cl != nil {
			cl.Close()
		}
	}
}

// iterProg is the optional tcp iterator; it loads separately so that a
// kernel refusing it (no BTF iterators, no bpf_setsockopt in iterators)
// costs only the refresh of receive-only and pre-existing sockets.
type iterProg struct {
	Prog *ebpf.Program `ebpf:"flowlens_refresh"`
}

// loaded holds the kernel objects of one collector.
type loaded struct {
	core    core
	iter    *ebpf.Program // nil when the iterator did not load
	iterErr error         // why not
}

// load checks the environment, sizes the maps from opts and loads the
// programs. Every error wraps ErrUnavailable.
func load(opts Options, cg cgroupInfo) (*loaded, error) {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return nil, fmt.Errorf("%w: kernel has no BTF (/sys/kernel/btf/vmlinux): %v", ErrUnavailable, err)
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("%w: raise RLIMIT_MEMLOCK: %v", ErrUnavailable, err)
	}
	spec, err := loadSockops()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	spec.Maps["socks"].MaxEntries = uint32(opts.MaxSockets)
	spec.Maps["events"].MaxEntries = uint32(opts.RingBytes)
	for _, name := range []string{"flows_a", "flows_b"} {
		spec.Maps[name].MaxEntries = uint32(opts.MaxFlows)
	}
	spec.Maps["flow_maps"].InnerMap.MaxEntries = uint32(opts.MaxFlows)
	vars := map[string]any{
		"rtt_sample_ns":       uint64(opts.RTTSampleEvery.Nanoseconds()),
		"rtt_flush_ns":        uint64(opts.RTTFlushEvery.Nanoseconds()),
		"rtt_budget":          rttBudgetPerWindow(opts.RTTBudget),
		"rtt_window_shift":    uint32(rttWindowShift),
		"ring_bytes":          uint64(opts.RingBytes),
		"target_cgroup_id":    uint64(0),
		"target_cgroup_level": cg.level,
	}
	if !cg.isRoot {
		vars["target_cgroup_id"] = cg.id
	}
	for name, v := range vars {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("%w: set %s: %v", ErrUnavailable, name, err)
		}
	}
	l := &loaded{}
	// One kernel BTF cache for both loads: parsing vmlinux's BTF is most of
	// the load's CPU time and memory.
	cache := btf.NewCache()
	if err := spec.LoadAndAssign(&l.core, &ebpf.CollectionOptions{Cache: cache}); err != nil {
		l.core.close()
		return nil, fmt.Errorf("%w: load sock_ops program: %s", ErrUnavailable, describeLoadError(err))
	}
	var it iterProg
	err = spec.LoadAndAssign(&it, &ebpf.CollectionOptions{Cache: cache, MapReplacements: map[string]*ebpf.Map{
		"socks": l.core.Socks, "events": l.core.Events, "stats": l.core.Stats, ".bss": l.core.BSS,
	}})
	if err != nil {
		l.iterErr = fmt.Errorf("load tcp iterator: %s", describeLoadError(err))
	} else {
		l.iter = it.Prog
	}
	return l, nil
}

// describeLoadError keeps a verifier rejection readable: its last lines say why.
func describeLoadError(err error) string {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return fmt.Sprintf("%+3v", ve)
	}
	if errors.Is(err, os.ErrPermission) {
		return fmt.Sprintf("%v (needs root, or CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN)", err)
	}
	return err.Error()
}

func (l *loaded) close() {
	l.core.close()
	if l.iter != nil {
		l.iter.Close()
	}
}

// The program's RTT budget window: 2^24 ns (16.8 ms) of the coarse clock,
// short so that the callbacks examined are spread over time.
const (
	rttWindowShift = 24
	rttWindow      = 1 << rttWindowShift * time.Nanosecond
)

// rttBudgetPerWindow converts a per-second RTT budget into the program's
// per-window one (at least 1).
func rttBudgetPerWindow(perSecond int) uint64 {
	return max(uint64(perSecond)*uint64(rttWindow)/uint64(time.Second), 1)
}
