// Package agent is the flowlens-agent core: it picks a collector (eBPF
// sock_ops, or sock_diag where eBPF cannot load), aggregates its socket
// events into per-flow deltas every interval, and publishes one report per
// interval through the shared publisher (retries, spool, sequences).
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flowlens/flowlens/agent/aggregate"
	"github.com/flowlens/flowlens/agent/collect"
	"github.com/flowlens/flowlens/agent/sockdiag"
	"github.com/flowlens/flowlens/publisher"
	"github.com/flowlens/flowlens/wire"
	"github.com/flowlens/flowlens/wire/flowlensv1"
)

// NewEBPF constructs the eBPF sock_ops collector. Package agent/ebpf sets
// it from an init function, so that this package does not depend on it
// (and a build without it still has the sock_diag collector). The
// constructor loads and attaches the program: an error means eBPF cannot
// run here, and mode auto falls back to sock_diag.
// maxSockets sizes its socket map (0: from the host's memory), maxFlows
// its in-kernel flow maps (0: the collector's default).
var NewEBPF func(cgroupPath string, maxSockets, maxFlows int, log *slog.Logger) (collect.Collector, error)

// Modes.
const (
	ModeAuto     = "auto"
	ModeEBPF     = "ebpf"
	ModeSockdiag = "sockdiag"
)

// Defaults for Config fields left zero.
const (
	DefaultInterval      = 30 * time.Second
	DefaultMetricsListen = "127.0.0.1:9101"
	DefaultStopTimeout   = 10 * time.Second
)

// Config configures an Agent.
type Config struct {
	Server        string
	Token         string
	Mode          string // auto (default), ebpf or sockdiag
	Cgroup        string // cgroup v2 path for eBPF; empty: the collector finds the root
	MaxSockets    int    // sockets eBPF tracks at once; 0: sized from memory
	MaxFlows      int    // flows eBPF sums short sockets into per interval; 0: default
	Netns         string // network namespace for sock_diag (name under /run/netns)
	Interval      time.Duration
	HostID        string
	SpoolDir      string
	SpoolMaxBytes int64
	// MetricsListen is where /metrics is served; empty disables it.
	MetricsListen string
	ReportCap     int
	Insecure      bool
	Version       string
	// PollInterval is the sock_diag poll period (default 1 s).
	PollInterval time.Duration
	// DropPrivileges switches the process to User, with only the
	// capabilities the running collector needs and no_new_privs, once the
	// collector, the spool and the metrics listener are set up (see
	// privileges.go); New fails when it cannot. The command sets it unless
	// --no-drop-privileges; tests leave it off so the test process keeps
	// its privileges.
	DropPrivileges bool
	// User is the account to drop to: a name or a numeric uid; empty:
	// DefaultUser if it exists, else nobody.
	User string
	// StopTimeout bounds how long Stop waits to deliver the last reports.
	StopTimeout time.Duration
}

func (c *Config) setDefaults() error {
	if c.Mode == "" {
		c.Mode = ModeAuto
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.ReportCap == 0 {
		c.ReportCap = aggregate.DefaultReportCap
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	switch {
	case c.Mode != ModeAuto && c.Mode != ModeEBPF && c.Mode != ModeSockdiag:
		return fmt.Errorf("agent: mode %q: want auto, ebpf or sockdiag", c.Mode)
	case c.Interval < time.Second || c.Interval > 10*time.Minute:
		return fmt.Errorf("agent: interval %s out of range 1s-10m", c.Interval)
	case c.HostID == "":
		return errors.New("agent: HostID is empty")
	case c.ReportCap < 1:
		return errors.New("agent: ReportCap must be at least 1")
	}
	return nil
}

// Agent runs one collector, the aggregation loop and the publisher.
type Agent struct {
	cfg   Config
	log   *slog.Logger
	coll  collect.Collector
	pub   *publisher.Publisher
	agg   *aggregate.Aggregator
	m     *metrics
	reg   prometheus.Registerer
	host  *flowlensv1.Host
	http  *http.Server
	ln    net.Listener
	start time.Time

	cancel context.CancelFunc
	wg     sync.WaitGroup
	runErr chan error
	stop   sync.Once
}

// New sets the agent up: it chooses and constructs the collector (which
// loads eBPF or opens the netlink sockets), opens the publisher's spool and
// registers metrics on reg. It starts nothing; see Start.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Agent, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	coll, err := chooseCollector(&cfg, log)
	if err != nil {
		return nil, err
	}
	// Loading eBPF parses the kernel's BTF (tens of MB of garbage once
	// done): give that memory back now rather than whenever the
	// scavenger gets to it, so the agent's RSS is what it uses.
	debug.FreeOSMemory()
	a, err := NewWithCollector(cfg, coll, log, reg)
	if err != nil {
		closeCollector(coll)
		return nil, err
	}
	return a, nil
}

// NewWithCollector is New with a collector built by the caller (tests,
// or an embedding program).
func NewWithCollector(cfg Config, coll collect.Collector, log *slog.Logger, reg prometheus.Registerer) (*Agent, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Agent{cfg: cfg, log: log.With("component", "agent"), coll: coll, reg: reg,
		agg: aggregate.New(aggregate.Config{ReportCap: cfg.ReportCap}), runErr: make(chan error, 1)}
	pub, err := publisher.New(publisher.Config{Server: cfg.Server, Token: cfg.Token, SpoolDir: cfg.SpoolDir,
		SpoolMaxBytes: cfg.SpoolMaxBytes, InsecureSkipVerify: cfg.Insecure}, log, reg)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	a.pub = pub
	a.m = newMetrics(a)
	if err := a.m.collect.Register(reg); err != nil {
		pub.Stop(context.Background())
		return nil, fmt.Errorf("agent: register metrics: %w", err)
	}
	a.host = hostInfo(&cfg, coll.Mode(), a.log)
	if err := a.setupPrivileged(); err != nil {
		a.Stop()
		return nil, err
	}
	return a, nil
}

// setupPrivileged opens the metrics listener (a port below 1024 needs
// privileges) and then drops the process's privileges, when asked to.
func (a *Agent) setupPrivileged() error {
	if a.cfg.MetricsListen != "" {
		ln, err := net.Listen("tcp", a.cfg.MetricsListen)
		if err != nil {
			return fmt.Errorf("agent: metrics listener: %w", err)
		}
		a.ln = ln
	}
	if !a.cfg.DropPrivileges {
		a.log.Warn("running with the privileges the agent started with (--no-drop-privileges)", "uid", os.Getuid())
		return nil
	}
	id, err := dropTarget(a.cfg.User)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if err := dropPrivileges(id, a.coll, a.cfg.SpoolDir, a.log); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	a.m.privilegesDropped.Set(1)
	return nil
}

// chooseCollector builds the collector cfg.Mode asks for, and logs which
// mode runs and why.
func chooseCollector(cfg *Config, log *slog.Logger) (collect.Collector, error) {
	newSockdiag := func(why string) (collect.Collector, error) {
		c, err := sockdiag.New(sockdiag.Config{Netns: cfg.Netns, PollInterval: cfg.PollInterval}, log)
		if err != nil {
			return nil, fmt.Errorf("agent: sock_diag collector: %w", err)
		}
		log.Info("collector mode sockdiag", "mode", ModeSockdiag, "why", why, "netns", cfg.Netns)
		return c, nil
	}
	switch cfg.Mode {
	case ModeSockdiag:
		return newSockdiag("asked for with --mode sockdiag")
	case ModeEBPF:
		if cfg.Netns != "" {
			return nil, errors.New("agent: --netns applies to sock_diag only; eBPF mode watches a cgroup (--cgroup)")
		}
		if NewEBPF == nil {
			return nil, errors.New("agent: --mode ebpf: this build has no eBPF collector")
		}
		c, err := NewEBPF(cfg.Cgroup, cfg.MaxSockets, cfg.MaxFlows, log)
		if err != nil {
			return nil, fmt.Errorf("agent: eBPF collector: %w", err)
		}
		log.Info("collector mode ebpf", "mode", ModeEBPF, "why", "asked for with --mode ebpf", "cgroup", cfg.Cgroup)
		return c, nil
	}
	// auto
	switch {
	case cfg.Netns != "":
		return newSockdiag("--netns selects sock_diag: eBPF attaches to a cgroup, not a namespace")
	case NewEBPF == nil:
		return newSockdiag("this build has no eBPF collector")
	}
	c, err := NewEBPF(cfg.Cgroup, cfg.MaxSockets, cfg.MaxFlows, log)
	if err != nil {
		log.Warn("eBPF collector unavailable, falling back to sock_diag", "error", err)
		return newSockdiag(fmt.Sprintf("eBPF failed: %v", err))
	}
	log.Info("collector mode ebpf", "mode", ModeEBPF, "why", "auto: eBPF loaded", "cgroup", cfg.Cgroup)
	return c, nil
}

// closeCollector releases a collector that will never run.
func closeCollector(c collect.Collector) {
	if cl, ok := c.(interface{ Close() error }); ok {
		cl.Close()
	}
}

// Mode is the collector mode that runs.
func (a *Agent) Mode() string { return a.coll.Mode() }

// Start starts the metrics endpoint, the publisher, the collector and the
// interval loop.
func (a *Agent) Start() error {
	if a.ln != nil {
		if err := a.serveMetrics(); err != nil {
			return err
		}
	}
	a.pub.Start()
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	events := make(chan collect.Event, 8192)
	a.start = time.Now()
	a.wg.Add(2)
	go func() {
		defer a.wg.Done()
		defer close(events)
		err := a.coll.Run(ctx, events)
		if err != nil {
			a.log.Error("collector stopped", "mode", a.coll.Mode(), "error", err)
		}
		a.runErr <- err
	}()
	go func() {
		defer a.wg.Done()
		a.loop(events)
	}()
	return nil
}

// Err delivers the collector's result once it has stopped (nil after a
// clean stop), so the command can exit rather than silently report nothing.
func (a *Agent) Err() <-chan error { return a.runErr }

// serveMetrics serves the registry that was passed to New (when it is a
// Gatherer) on the listener New opened.
func (a *Agent) serveMetrics() error {
	g, ok := a.reg.(prometheus.Gatherer)
	if !ok {
		return errors.New("agent: MetricsListen needs a registerer that is also a Gatherer (prometheus.Registry)")
	}
	ln := a.ln
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	a.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go a.http.Serve(ln)
	a.log.Info("serving metrics", "addr", ln.Addr().String())
	return nil
}

// MetricsAddr is the metrics listener's address, when it serves.
func (a *Agent) MetricsAddr() string {
	if a.ln == nil {
		return ""
	}
	return a.ln.Addr().String()
}

// syncWait bounds how long an interval's report waits for a collector's
// Synced answer before it goes out with what has arrived.
const syncWait = 5 * time.Second

// loop feeds events to the aggregator and publishes a report every
// interval. With a collector that reads counters on request (Syncer), the
// report waits for its fresh counters (the Synced event) first. It
// publishes the last, partial interval when the collector has stopped, so
// that nothing counted is lost at shutdown.
func (a *Agent) loop(events <-chan collect.Event) {
	tick := time.NewTicker(a.cfg.Interval)
	defer tick.Stop()
	syncer, _ := a.coll.(collect.Syncer)
	start := a.start
	var (
		pending  bool      // an interval waits for Synced
		end      time.Time // its end
		deadline <-chan time.Time
	)
	closeInterval := func() {
		a.publish(start, end)
		start, pending, deadline = end, false, nil
	}
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				if pending {
					closeInterval()
				}
				a.publish(start, time.Now())
				return
			}
			if ev.Kind == collect.Synced {
				if pending {
					closeInterval()
				}
				continue
			}
			a.agg.Add(ev)
		case now := <-tick.C:
			if pending { // the collector did not answer within an interval
				closeInterval()
			}
			end = now
			if syncer == nil {
				closeInterval()
				continue
			}
			pending, deadline = true, time.After(min(syncWait, a.cfg.Interval/2))
			syncer.Sync()
		case <-deadline:
			a.m.syncTimeouts.Inc()
			closeInterval()
		}
	}
}

// publish builds the interval's report and hands it to the publisher.
func (a *Agent) publish(start, end time.Time) {
	recs := a.agg.Flush()
	cs, as := a.coll.Stats(), a.agg.Stats()
	r := &flowlensv1.Report{
		AgentId:             a.cfg.HostID,
		Host:                a.host,
		IntervalStartUnixMs: start.UnixMilli(),
		IntervalEndUnixMs:   max(end.UnixMilli(), start.UnixMilli()),
		Flows:               make([]*flowlensv1.Flow, len(recs)),
		Stats:               &flowlensv1.AgentStats{FlowsTracked: uint64(len(recs)), SampledSockets: cs.SampledSockets, MergedFlows: as.MergedFlows},
	}
	for i := range recs {
		r.Flows[i] = wire.FromRecord(&recs[i])
	}
	a.m.observeReport(len(recs), &as)
	if err := a.pub.Publish(r); err != nil {
		a.m.publishErrors.Inc()
		a.log.Error("could not queue the interval's report", "flows", len(recs), "error", err)
	}
}

// Stop stops the collector, publishes the last partial interval, and stops
// the publisher (delivering what it can within StopTimeout; the rest stays
// in the spool). It is safe to call more than once.
func (a *Agent) Stop() error {
	var err error
	a.stop.Do(func() {
		if a.cancel != nil {
			a.cancel()
			a.wg.Wait()
		} else {
			closeCollector(a.coll)
		}
		if a.http != nil {
			a.http.Close()
		} else if a.ln != nil {
			a.ln.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.StopTimeout)
		defer cancel()
		err = a.pub.Stop(ctx)
		a.m.collect.Unregister(a.reg)
	})
	return err
}

// Stats are the publisher's counters (for the command's exit summary and
// tests).
func (a *Agent) Stats() publisher.Stats { return a.pub.Stats() }

// hostname is os.Hostname, empty on error.
func hostname() string {
	h, _ := os.Hostname()
	return h
}
