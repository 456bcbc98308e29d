package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/examples"
	"github.com/flowlens/flowlens/publisher"
	"github.com/flowlens/flowlens/sim"
	"github.com/flowlens/flowlens/topology"
)

func newSimCmd(g *globals) *cobra.Command {
	var cfg sim.Config
	var topoPath string
	var faults []string
	var quiet bool
	var tokenFile string
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Drive a server with a simulated fleet of agents",
		Long: `Run N virtual agents (host ids sim-0 .. sim-N-1) placed round-robin in the subnets of a
topology. Each posts a real report every --interval through the same publisher the agent uses
(retries, spool, sequence numbers, and a random epoch drawn per spool directory, so that a
second run against the same server is new data, not replays), with realistic traffic: a few heavy talkers, many small
flows, short-lived connections, intra- and cross-zone peers, services and the internet. Both
ends of a conversation between two simulated agents report their side.

At the end it waits for every report to be acknowledged and prints one JSON object:
{"sent": {...}, "acked": {...}} with bytes, retransmissions, flows and reports, and
"unexpected_duplicates": reports the server already had although this run never sent them
(their data was not stored; it should be 0).

Faults (--fault, repeatable):
  segment=FROM>TO,loss=0.03       data sent from FROM to TO loses 3% of segments
  segment=FROM<>TO,rtt=+20ms      both directions; 20 ms more round-trip time
  host=sim-3,loss=0.05            everything in and out of one host
  asn=64500,loss=0.05             internet clients coming through one ASN
  city=Paris,loss=0.05            internet clients of one city, whatever their ASN
  clients=all,loss=0.05           every internet conversation (our side)
  ...,after=2m,for=5m             start after a healthy baseline, end after a while
FROM and TO are region, zone, network or subnet ids, or service:ID.

--internet-clients N adds N inbound clients spread over the city-networks of the database
that "flowlens sim geoip" writes (every city-network first, then by weight).`,
		Example: `  flowlens sim --agents 20 --interval 5s --duration 30s
  flowlens sim --duration 10m --fault segment=zone-a>zone-b,loss=0.03,after=2m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			topo, err := loadTopologyOrExample(topoPath)
			if err != nil {
				return err
			}
			cfg.Topology, cfg.Server, cfg.Token, cfg.InsecureSkipVerify = topo, g.server, g.token, g.insecure
			if tokenFile != "" { // wins over FLOWLENS_TOKEN
				if cmd.Flags().Changed("token") {
					return errors.New("give --token or --token-file, not both")
				}
				if cfg.Token, err = publisher.ReadTokenFile(tokenFile, g.logger()); err != nil {
					return err
				}
			}
			for _, f := range faults {
				ft, err := sim.ParseFault(f)
				if err != nil {
					return err
				}
				cfg.Faults = append(cfg.Faults, ft)
			}
			if !quiet && isTerminal(os.Stderr) {
				cfg.Progress = func(s sim.Summary) {
					fmt.Fprintf(os.Stderr, "\r%5.0fs  reports %d sent, %d acked  flows %d  bytes %d   ",
						s.DurationSeconds, s.Sent.Reports, s.Acked.Reports, s.Sent.Flows, s.Sent.Bytes)
				}
			}
			sum, err := sim.Run(cmd.Context(), cfg, g.logger())
			if cfg.Progress != nil {
				fmt.Fprintln(os.Stderr)
			}
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			enc.Encode(sum)
			return err
		},
	}
	cmd.AddCommand(newEvalLocalizationCmd())
	f := cmd.Flags()
	f.StringVar(&topoPath, "topology", "", "topology YAML (default: the embedded examples/topology.yaml)")
	f.IntVar(&cfg.Agents, "agents", 20, "number of simulated agents")
	f.IntVar(&cfg.FlowsPerAgent, "flows-per-agent", 50, "conversations each agent opens (peers report the server side too)")
	f.DurationVar(&cfg.Interval, "interval", 5*time.Second, "report interval")
	f.DurationVar(&cfg.Duration, "duration", 0, "how long to run (0: until interrupted)")
	f.Uint64Var(&cfg.Seed, "seed", 1, "random seed; the same seed gives the same fleet")
	f.StringArrayVar(&faults, "fault", nil, "inject a fault (see above); repeatable")
	f.StringVar(&cfg.SpoolDir, "spool-dir", "", "publisher spool, one subdirectory per agent with its epoch and sequence (default: a temporary directory, so a fresh epoch every run)")
	f.DurationVar(&cfg.DrainTimeout, "drain-timeout", 5*time.Minute, "how long to wait for acknowledgements at the end")
	f.StringVar(&cfg.Compression, "compression", "zstd", "report compression: zstd or gzip")
	f.BoolVar(&quiet, "quiet", false, "no progress line")
	f.StringVar(&tokenFile, "token-file", "", "file holding the token alone on one line (instead of --token, which /proc shows to every local user)")
	f.IntVar(&cfg.InternetClients, "internet-clients", 0, "add N internet clients over the city-networks of 'flowlens sim geoip'")
	cmd.AddCommand(newSimGeoIPCmd())
	return cmd
}

// loadTopologyOrExample loads path, or the embedded example without one.
func loadTopologyOrExample(path string) (*topology.Topology, error) {
	if path == "" {
		return topology.Parse(examples.Topology, examples.TopologyName)
	}
	return topology.Load(path)
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
