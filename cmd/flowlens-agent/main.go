// Command flowlens-agent measures the TCP performance of a host's real
// traffic and reports it to a FlowLens server every interval.
//
// The work is in package agent: the collector (eBPF sock_ops, or
// sock_diag polling plus the TCP destroy groups), the per-interval
// aggregation and the publisher (retries, on-disk spool, sequence
// numbers). This command parses flags and runs it until SIGINT/SIGTERM.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/flowlens/flowlens/internal/cpuprofile"

	"github.com/spf13/cobra"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/agent"
	"github.com/flowlens/flowlens/agent/ebpf"
	"github.com/flowlens/flowlens/apiclient"
	"github.com/flowlens/flowlens/publisher"
)

var version = "dev"

// Runtime limits, unless the environment sets them (GOMAXPROCS,
// GOMEMLIMIT): the agent's work is a stream of small events handed from
// the collector to the aggregator; on one P that hand-off stays on one
// thread instead of waking another for each event, and a soft memory
// limit keeps the heap's garbage from doubling the resident size.
const (
	agentMaxProcs = 1
	agentMemLimit = 24 << 20
)

func limitRuntime() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(agentMaxProcs)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(agentMemLimit)
	}
}

// config is the agent's command line.
type config struct {
	server        string
	token         string
	tokenFile     string
	tokenOnCLI    bool // --token was given on the command line
	mode          string
	cgroup        string
	maxSockets    int
	maxFlows      int
	pollInterval  time.Duration
	netns         string
	interval      time.Duration
	hostID        string
	spoolDir      string
	spoolMaxBytes int64
	metricsListen string
	reportCap     int
	insecure      bool
	cpuProfile    string
	user          string
	noDrop        bool
}

func main() {
	agent.NewEBPF = ebpf.New
	limitRuntime()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "flowlens-agent:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	var c config
	cmd := &cobra.Command{
		Use:   "flowlens-agent",
		Short: "Measure this host's TCP flows and report them to a FlowLens server",
		Long: `flowlens-agent passively measures the TCP performance of real traffic on this host
(bytes, retransmissions, RTO timeouts, RTT, handshake latency, failed connections),
aggregates it per flow every --interval and posts it to the server. Reports that cannot
be delivered wait in an on-disk spool (--spool-dir) and are sent when the server is back.

The agent runs on one CPU thread with a 24 MiB soft heap limit; set GOMAXPROCS or
GOMEMLIMIT in the environment to change that.`,
		Version:       version,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c.tokenOnCLI = cmd.Flags().Changed("token")
			return run(cmd.Context(), c)
		},
	}
	host, _ := os.Hostname()
	f := cmd.Flags()
	f.StringVar(&c.server, "server", apiclient.ServerFromEnv(), "FlowLens server URL (env FLOWLENS_SERVER)")
	f.StringVar(&c.tokenFile, "token-file", "", "file holding the ingest token alone on one line (chmod 600); preferred over --token")
	f.StringVar(&c.token, "token", os.Getenv("FLOWLENS_TOKEN"), "ingest token (env FLOWLENS_TOKEN); on the command line every local user can read it in /proc/PID/cmdline, so prefer --token-file")
	f.Lookup("token").DefValue = "" // --help must not print the secret
	f.StringVar(&c.mode, "mode", "auto", "collector: auto (eBPF, else sock_diag), ebpf or sockdiag")
	f.StringVar(&c.cgroup, "cgroup", "", "cgroup v2 to attach to in eBPF mode (default: the root of the cgroup v2 mount)")
	f.IntVar(&c.maxSockets, "max-sockets", 0, "sockets eBPF mode tracks at once (a kernel map, ~240 B each, preallocated); beyond it new sockets are counted as sampled (default: a thousandth of memory, 16384-1048576 sockets)")
	f.IntVar(&c.maxFlows, "max-flows", 4096, "flows eBPF mode sums short connections into in the kernel per interval (~1.2 KB of kernel memory each in use); the ends of connections of further flows go through the ring buffer, counted in flowlens_agent_flow_map_full_total")
	f.DurationVar(&c.pollInterval, "poll-interval", time.Second, "sock_diag mode: period of the socket dumps (live connections' counters and RTT samples; closed sockets are seen at once through the destroy groups); it grows by this much per 5,000 live connections, up to 10s, and is never below it")
	f.StringVar(&c.netns, "netns", "", "network namespace to watch in sock_diag mode (name under /run/netns)")
	f.DurationVar(&c.interval, "interval", 30*time.Second, "report interval, 1s to 10m")
	f.StringVar(&c.hostID, "host-id", host, "this host's id in reports (default: the hostname)")
	f.StringVar(&c.spoolDir, "spool-dir", "/var/lib/flowlens-agent", "sequence state and the spool of undelivered reports")
	f.Int64Var(&c.spoolMaxBytes, "spool-max-bytes", 256<<20, "spool bound; the oldest reports are dropped beyond it")
	f.StringVar(&c.metricsListen, "metrics-listen", "127.0.0.1:9101", "address for the agent's own Prometheus metrics")
	f.IntVar(&c.reportCap, "report-cap", 10_000, "flows per report; the rest merge per remote prefix so totals stay exact")
	f.BoolVar(&c.insecure, "insecure", false, "skip TLS certificate verification")
	f.StringVar(&c.user, "user", "", "user (name or uid) the agent runs as once its collector is set up, with only the capabilities that collector needs (eBPF: CAP_BPF; sock_diag: none) and no_new_privs; it owns --spool-dir (default: "+agent.DefaultUser+" if that user exists, else nobody)")
	f.BoolVar(&c.noDrop, "no-drop-privileges", false, "keep running as the user and with the capabilities the agent started with (by default it refuses to start when it cannot drop them)")
	f.StringVar(&c.cpuProfile, "cpu-profile", "", "write a Go CPU profile of the agent to this file until it stops (read it with go tool pprof)")
	return cmd
}

func (c config) validate() error {
	switch {
	case c.interval < time.Second || c.interval > 10*time.Minute:
		return fmt.Errorf("--interval %s out of range 1s-10m", c.interval)
	case c.mode != "auto" && c.mode != "ebpf" && c.mode != "sockdiag":
		return fmt.Errorf("--mode %q: want auto, ebpf or sockdiag", c.mode)
	case c.hostID == "":
		return errors.New("--host-id is empty")
	case c.maxSockets < 0:
		return errors.New("--max-sockets must not be negative (0 sizes it from memory)")
	case c.pollInterval < 100*time.Millisecond || c.pollInterval > time.Minute:
		return fmt.Errorf("--poll-interval %s out of range 100ms-1m", c.pollInterval)
	case c.maxFlows < 1 || c.maxFlows > 1<<20:
		return fmt.Errorf("--max-flows %d out of range 1-1048576", c.maxFlows)
	case c.reportCap < 1:
		return errors.New("--report-cap must be at least 1")
	case c.tokenOnCLI && c.tokenFile != "":
		return errors.New("give --token or --token-file, not both")
	case c.noDrop && c.user != "":
		return errors.New("--user and --no-drop-privileges contradict each other")
	}
	return nil
}

func run(ctx context.Context, c config) error {
	if err := c.validate(); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("host_id", c.hostID)
	if c.tokenFile != "" { // wins over FLOWLENS_TOKEN
		tok, err := publisher.ReadTokenFile(c.tokenFile, log)
		if err != nil {
			return err
		}
		c.token = tok
	} else if c.tokenOnCLI {
		log.Warn("--token on the command line is visible to every local user in /proc; use --token-file")
	}
	// 1 kHz: the agent is mostly idle, 100 Hz sees too little of it.
	stopProfile, err := cpuprofile.Start(c.cpuProfile, 1000)
	if err != nil {
		return fmt.Errorf("--cpu-profile: %w", err)
	}
	defer stopProfile()
	reg := prometheus.NewRegistry()
	a, err := agent.New(agent.Config{
		Server: c.server, Token: c.token, Mode: c.mode, Cgroup: c.cgroup, MaxSockets: c.maxSockets, MaxFlows: c.maxFlows, PollInterval: c.pollInterval, Netns: c.netns,
		Interval: c.interval, HostID: c.hostID, SpoolDir: c.spoolDir, SpoolMaxBytes: c.spoolMaxBytes,
		MetricsListen: c.metricsListen, ReportCap: c.reportCap, Insecure: c.insecure,
		Version: version, DropPrivileges: !c.noDrop, User: c.user,
	}, log, reg)
	if err != nil {
		return err
	}
	if err := a.Start(); err != nil {
		a.Stop()
		return err
	}
	log.Info("flowlens-agent running", "mode", a.Mode(), "server", c.server, "interval", c.interval)
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-a.Err():
		if runErr == nil {
			runErr = errors.New("collector stopped unexpectedly")
		}
	}
	if err := a.Stop(); err != nil {
		return errors.Join(runErr, err)
	}
	st := a.Stats()
	log.Info("flowlens-agent stopped", "reports_published", st.Published, "acked", st.Acked, "pending", st.Pending)
	return runErr
}
