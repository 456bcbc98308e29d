package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/lab"
)

// labFlags are the flags every lab subcommand shares.
type labFlags struct {
	name      string
	stateRoot string
}

func (f *labFlags) config(g *globals) lab.Config {
	return lab.Config{Name: f.name, StateRoot: f.stateRoot, Logger: g.logger()}
}

func (f *labFlags) open(g *globals) (*lab.Lab, error) {
	return lab.Open(f.config(g))
}

func newLabCmd(g *globals) *cobra.Command {
	f := &labFlags{}
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Build a network of simulated hosts on this machine (root only)",
		Long: `The lab models 8 hosts in 2 zones on this machine with network namespaces, veth pairs
and bridges, addressed like examples/topology.yaml so that their flows are classified:

  zone-a  router ns NAME-ra   web-a 10.1.1.0/24   hosts NAME-a1-h1 .10, NAME-a1-h2 .11 (router .1)
                              app-a 10.1.2.0/24   hosts NAME-a2-h1 .10, NAME-a2-h2 .11
  zone-b  router ns NAME-rb   web-b 10.1.11.0/24  hosts NAME-b1-h1 .10, NAME-b1-h2 .11
                              app-b 10.1.12.0/24  hosts NAME-b2-h1 .10, NAME-b2-h2 .11
  link zone-a:zone-b          NAME-ra to-zone-b 10.255.0.1/30 <-> NAME-rb to-zone-a 10.255.0.2/30

Each subnet is a bridge in its zone's router namespace. Every host has its own cgroup v2
(<cgroup2 mount>/flowlens-lab/NAME-a1-h1), and everything the lab runs for a host is born in
the host's namespace and cgroup. The state file (/run/flowlens-lab/NAME.json) records what
was created; "down" removes exactly that.`,
		Example: `  sudo flowlens lab up
  sudo flowlens lab traffic --duration 60s
  sudo flowlens lab impair --link zone-a:zone-b --loss 5%
  sudo flowlens lab impair --link zone-a:zone-b --rate 10mbit
  sudo flowlens lab status
  sudo flowlens lab heal
  sudo flowlens lab down`,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if err := lab.CheckRoot(); err != nil {
				return fmt.Errorf("%w: run it with sudo", err)
			}
			return lab.ValidateName(f.name)
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.name, "name", lab.DefaultName, "lab name: prefix of every namespace")
	pf.StringVar(&f.stateRoot, "state-root", lab.DefaultStateRoot, "where lab state files live")
	cmd.AddCommand(newLabUpCmd(g, f), newLabDownCmd(g, f), newLabStatusCmd(g, f), newLabImpairCmd(g, f),
		newLabHealCmd(g, f), newLabTrafficCmd(g, f), newLabExecCmd(g, f))
	return cmd
}

func newLabUpCmd(g *globals, f *labFlags) *cobra.Command {
	var agents bool
	var ac lab.AgentConfig
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Create the lab (refuses if it is already up)",
		Long: `Create the namespaces, bridges, links, routes and cgroups of the lab.

With --server (or --agents), also start one flowlens-agent per host, reporting to --server
with --token: --host-id NAME-a1-h1, --netns (sockdiag) or --cgroup (ebpf), --interval,
--spool-dir <state dir>/<host>.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := f.config(g)
			if agents || cmd.Flags().Changed("server") || cmd.Flags().Changed("agent-bin") {
				ac.Server, ac.Token, ac.Insecure = g.server, g.token, g.insecure
				cfg.Agents = &ac
			}
			l, err := lab.Up(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			return printStatus(os.Stdout, l.Status(cmd.Context()))
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&agents, "agents", false, "start one flowlens-agent per host (implied by --server)")
	fl.StringVar(&ac.Bin, "agent-bin", "", "agent binary (default: flowlens-agent next to this binary, else on $PATH)")
	fl.StringVar(&ac.Mode, "agent-mode", "sockdiag", "agent collector: sockdiag (each agent dumps its host's namespace) or ebpf (sock_ops on the host's cgroup; the agents run in the root namespace, so their tcp iterator cannot refresh a receive-only socket between callbacks); auto passes --netns, which selects sockdiag")
	fl.DurationVar(&ac.Interval, "agent-interval", 5*time.Second, "agent report interval")
	fl.IntVar(&ac.MetricsBase, "agent-metrics-base", 0, "serve agent i's /metrics on 127.0.0.1:BASE+i (0: off)")
	return cmd
}

func newLabDownCmd(g *globals, f *labFlags) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the lab's processes and remove everything it created",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Not the command's context: an interrupted down would leave
			// half a lab.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := lab.Down(ctx, f.config(g), force); err != nil {
				return err
			}
			fmt.Printf("lab %s is down\n", f.name)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "without a state file, remove the namespaces and cgroups the lab would have created")
	return cmd
}

func newLabStatusCmd(g *globals, f *labFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show hosts, addresses, impairments and running processes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := f.open(g)
			if err != nil {
				return err
			}
			st := l.Status(cmd.Context())
			switch output {
			case "json":
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			case "table":
				return printStatus(os.Stdout, st)
			}
			return fmt.Errorf("--output %q: want table or json", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

// impairFlags are the raw flag values of impair, parsed by parseImpair.
type impairFlags struct {
	link, host, loss, rate string
	queue                  time.Duration
}

// parseImpair turns the impair flags into an Impairment; the lab checks the
// link and host names against its spec.
func parseImpair(f impairFlags) (lab.Impairment, error) {
	imp := lab.Impairment{Link: f.link, Host: f.host, Rate: f.rate, Queue: f.queue}
	if (f.link == "") == (f.host == "") {
		return imp, errors.New("give exactly one of --link zone-a:zone-b or --host NAME")
	}
	if f.loss == "" && f.rate == "" {
		return imp, errors.New("give --loss PERCENT and/or --rate RATE")
	}
	if f.loss != "" {
		v, err := lab.ParseLoss(f.loss)
		if err != nil {
			return imp, fmt.Errorf("--loss: %w", err)
		}
		imp.Loss = v
	}
	if f.rate != "" {
		if _, _, err := lab.ParseRate(f.rate); err != nil {
			return imp, fmt.Errorf("--rate: %w", err)
		}
	} else if f.queue != 0 {
		return imp, errors.New("--queue needs --rate")
	}
	return imp, nil
}

func newLabImpairCmd(g *globals, f *labFlags) *cobra.Command {
	var fl impairFlags
	cmd := &cobra.Command{
		Use:   "impair",
		Short: "Drop packets (nft numgen) or shape (tc HTB) on the inter-zone link or a host",
		Long: `Loss drops that share of packets in both directions with an nft rule
"numgen random mod 100 < N drop" at the ingress of both ends of the target (table netdev
flowlens_lab in the router namespaces for the link; in the host and its router for a host).
Rate shapes both directions with a tc HTB class (rate = ceil) feeding a byte FIFO that holds
--queue of traffic, so that a loaded bottleneck queues (RTT rises) and then drops.
A new fault on an impaired target replaces the same kind of fault and keeps the other.`,
		Example: `  flowlens lab impair --link zone-a:zone-b --loss 5%
  flowlens lab impair --host a1-h1 --loss 0.5%
  flowlens lab impair --link zone-a:zone-b --rate 10mbit --queue 50ms`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			imp, err := parseImpair(fl)
			if err != nil {
				return err
			}
			l, err := f.open(g)
			if err != nil {
				return err
			}
			if err := l.Impair(cmd.Context(), imp); err != nil {
				return err
			}
			for _, i := range l.Impairments() {
				fmt.Println(i)
			}
			return nil
		},
	}
	c := cmd.Flags()
	c.StringVar(&fl.link, "link", "", "the inter-zone link: zone-a:zone-b")
	c.StringVar(&fl.host, "host", "", "a host: a1-h1 or NAME-a1-h1")
	c.StringVar(&fl.loss, "loss", "", "share of packets to drop, e.g. 5% or 0.5%")
	c.StringVar(&fl.rate, "rate", "", "bottleneck rate, e.g. 10mbit")
	c.DurationVar(&fl.queue, "queue", 0, "bottleneck queue as delay at --rate (default 100ms)")
	return cmd
}

func newLabHealCmd(g *globals, f *labFlags) *cobra.Command {
	var link, host string
	cmd := &cobra.Command{
		Use:   "heal",
		Short: "Remove impairments (all, or those of --link or --host)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if link != "" && host != "" {
				return errors.New("give at most one of --link and --host")
			}
			l, err := f.open(g)
			if err != nil {
				return err
			}
			if err := l.Heal(cmd.Context(), link+host); err != nil {
				return err
			}
			fmt.Printf("impairments left: %d\n", len(l.Impairments()))
			return nil
		},
	}
	cmd.Flags().StringVar(&link, "link", "", "heal only the link zone-a:zone-b")
	cmd.Flags().StringVar(&host, "host", "", "heal only this host")
	return cmd
}

func newLabTrafficCmd(g *globals, f *labFlags) *cobra.Command {
	var tc lab.TrafficConfig
	var duration time.Duration
	var detach, stop bool
	var scenarios string
	cmd := &cobra.Command{
		Use:   "traffic",
		Short: "Run the traffic a user would: HTTP downloads, iperf3 bursts, short connections",
		Long: `Start nginx (port 80, serving a 10 MB file and a tiny one) and an iperf3 server (port 5201)
in every host, then, in every host, loops that
  bulk   download the 10 MB file from every other host in turn, then pause --bulk-every;
  iperf  run an iperf3 burst to the host at the same place in the other zone;
  short  open --short-per-peer one-request connections to every other host every second.
Everything runs in the hosts' namespaces and cgroups. The loops run for --duration (0: until
interrupted), or with --detach in the background until "lab traffic --stop" or "lab down".
Servers keep running until "lab down".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := f.open(g)
			if err != nil {
				return err
			}
			if stop {
				printTrafficCounts(os.Stdout, l, "traffic stopped: ")
				return l.StopTraffic()
			}
			if tc.Scenarios, err = lab.ParseScenarios(scenarios); err != nil {
				return err
			}
			if err := l.StartTraffic(cmd.Context(), tc); err != nil {
				return err
			}
			if detach {
				fmt.Println("traffic running; stop it with: flowlens lab traffic --stop --name", f.name)
				return nil
			}
			wait := cmd.Context()
			if duration > 0 {
				var cancel context.CancelFunc
				wait, cancel = context.WithTimeout(wait, duration)
				defer cancel()
			}
			fmt.Fprintln(os.Stderr, "traffic running; interrupt to stop")
			progress := time.NewTicker(10 * time.Second)
			defer progress.Stop()
			for wait.Err() == nil {
				select {
				case <-wait.Done():
				case <-progress.C:
					printTrafficCounts(os.Stderr, l, "so far: ")
				}
			}
			err = l.StopTraffic()
			printTrafficCounts(os.Stdout, l, "traffic done: ")
			return err
		},
	}
	fl := cmd.Flags()
	fl.DurationVar(&duration, "duration", 0, "how long to run (0: until interrupted)")
	fl.BoolVar(&detach, "detach", false, "leave the traffic running in the background")
	fl.BoolVar(&stop, "stop", false, "stop detached traffic")
	fl.StringVar(&scenarios, "scenarios", strings.Join(lab.Scenarios, ","), "comma-separated: bulk, iperf, short")
	fl.DurationVar(&tc.BulkEvery, "bulk-every", 20*time.Second, "pause between rounds of 10 MB downloads")
	fl.DurationVar(&tc.IperfEvery, "iperf-every", 30*time.Second, "pause between iperf3 bursts")
	fl.DurationVar(&tc.IperfTime, "iperf-time", 5*time.Second, "length of an iperf3 burst")
	fl.StringVar(&tc.IperfRate, "iperf-rate", "100M", "iperf3 -b target rate")
	fl.IntVar(&tc.ShortPerPeer, "short-per-peer", 5, "short connections to each peer per round")
	return cmd
}

func newLabExecCmd(g *globals, f *labFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "exec HOST -- COMMAND [ARGS...]",
		Short: "Run a command in a host's namespace and cgroup",
		Example: `  flowlens lab exec a1-h1 -- curl -s http://10.1.11.10/tiny.txt
  flowlens lab exec a1-h1 -- ss -ti`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := f.open(g)
			if err != nil {
				return err
			}
			out, err := l.Exec(cmd.Context(), args[0], args[1:]...)
			os.Stdout.Write(out)
			return err
		},
	}
}

// printStatus writes the lab's status as tables.
func printStatus(w io.Writer, st lab.Status) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "lab %s  (state %s, created %s)\n\n", st.Name, st.StateFile, st.Created.Local().Format(time.DateTime))
	fmt.Fprintln(tw, "HOST\tZONE\tSUBNET\tADDRESS\tROUTER\tNETNS\tCGROUP")
	for _, h := range st.Hosts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.Name, h.Zone, h.Subnet, h.Addr, h.Router, upDown(h.NetnsUp), h.Cgroup)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "ROUTER\tZONE\tLINK DEV\tLINK ADDRESS\tBRIDGES")
	for _, r := range st.Routers {
		var br []string
		for _, b := range r.Bridges {
			br = append(br, fmt.Sprintf("%s %s", b.Name, b.Addr))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.Zone, r.LinkDev, r.LinkIP, strings.Join(br, ", "))
	}
	fmt.Fprintln(tw)
	if len(st.Impairments) == 0 {
		fmt.Fprintln(tw, "impairments: none")
	}
	for _, i := range st.Impairments {
		drops := ""
		if i.Loss > 0 {
			drops = fmt.Sprintf("  (%d packets dropped so far)", st.Drops[i.Target()])
		}
		fmt.Fprintf(tw, "impaired %s%s\n", i, drops)
	}
	fmt.Fprintln(tw)
	if len(st.Processes) == 0 {
		fmt.Fprintln(tw, "processes: none")
	} else {
		fmt.Fprintln(tw, "PID\tHOST\tROLE\tSTATE\tCOMMAND")
		for _, p := range st.Processes {
			state := "running"
			if !p.Alive {
				state = "exited"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", p.PID, p.Host, p.Role, state, oneLine(strings.Join(p.Argv, " "), 90))
		}
	}
	return tw.Flush()
}

func upDown(b bool) string {
	if b {
		return "up"
	}
	return "MISSING"
}

// oneLine flattens a command line (traffic loops are shell scripts) and
// shortens it for a table.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-3] + "..."
	}
	return s
}

// printTrafficCounts prints one line of what the traffic loops did.
func printTrafficCounts(w io.Writer, l *lab.Lab, prefix string) {
	counts, err := l.TrafficCounts()
	if err != nil {
		fmt.Fprintf(w, "%scounts unavailable: %v\n", prefix, err)
		return
	}
	if len(counts) == 0 {
		fmt.Fprintf(w, "%sno traffic has run\n", prefix)
		return
	}
	parts := make([]string, len(counts))
	for i, c := range counts {
		parts[i] = c.String()
	}
	fmt.Fprintf(w, "%s%s\n", prefix, strings.Join(parts, "; "))
}
