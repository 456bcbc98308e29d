package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/apiclient"
	"github.com/flowlens/flowlens/examples"
	"github.com/flowlens/flowlens/server"
	"github.com/flowlens/flowlens/sim"
	"github.com/flowlens/flowlens/topology"
	"github.com/flowlens/flowlens/web"
)

func newDemoCmd(g *globals) *cobra.Command {
	var cfg server.Config
	var mods moduleFlags
	var stores storeFlags
	var agents, flows, internetClients int
	var interval time.Duration
	var faults []string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the server with the example topology and a simulated fleet",
		Long: `Start a FlowLens server on an embedded store (a temporary data dir unless --data-dir),
load the example topology, drive it with a simulated fleet, print the URL, the web login
(user admin; password FLOWLENS_ADMIN_PASSWORD or a generated one) and the API token,
and run until interrupted (Ctrl-C).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.DataDir == "" {
				dir, err := os.MkdirTemp("", "flowlens-demo-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				cfg.DataDir = dir
			}
			if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
				return fmt.Errorf("create data dir: %w", err)
			}
			topoPath := filepath.Join(cfg.DataDir, "topology.yaml")
			if err := os.WriteFile(topoPath, examples.Topology, 0o644); err != nil {
				return err
			}
			cfg.TopologyPath = topoPath
			if g.token != "" {
				cfg.Tokens = []string{g.token}
			}
			if err := prepareDemo(cfg.DataDir, &mods); err != nil {
				return err
			}
			fleet, err := demoFleetConfig(agents, flows, internetClients, interval, faults)
			if err != nil {
				return err
			}
			adminPassword := demoAdminPassword(&mods)
			open, err := stores.opener(cfg.DataDir)
			if err != nil {
				return err
			}
			cfg.OpenStore, cfg.Modules = open, mods.builder(nil)
			return runServer(cmd.Context(), g, cfg, func(srv *server.Server) error {
				printDemoBanner(srv, cfg.DataDir, adminPassword, faults)
				go seedDemo(cmd.Context(), apiclient.New(srv.URL(), srv.Token(), true), g.logger().With("component", "demo"))
				go runDemoFleet(cmd.Context(), g, srv, fleet)
				return nil
			})
		},
	}
	f := cmd.Flags()
	mods.register(f)
	stores.register(f, false)
	f.StringVar(&cfg.DataDir, "data-dir", "", "keep data here (default: a temporary directory removed at exit)")
	f.StringVar(&cfg.Listen, "listen", server.DefaultListen, "address to listen on")
	f.IntVar(&agents, "agents", 20, "simulated agents")
	f.IntVar(&flows, "flows-per-agent", 40, "conversations per simulated agent")
	f.DurationVar(&interval, "interval", 5*time.Second, "report interval of the simulated agents")
	f.IntVar(&internetClients, "internet-clients", 300, "simulated internet clients (over the city-networks of the demo's GeoIP database)")
	f.StringArrayVar(&faults, "fault", demoFaults, "fault for the simulated fleet, as in 'flowlens sim --fault' (repeatable; --fault '' for none)")
	return cmd
}

// demoAdminPassword is the web login the demo prints: FLOWLENS_ADMIN_PASSWORD
// when set (and no --users-file), otherwise a fresh random one.
func demoAdminPassword(mods *moduleFlags) string {
	if mods.web.UsersFile != "" {
		return "(from --users-file)"
	}
	pw := os.Getenv("FLOWLENS_ADMIN_PASSWORD")
	if pw == "" {
		pw = web.GeneratePassword()
	}
	mods.web.AdminPassword = pw
	return pw
}

func printDemoBanner(srv *server.Server, dataDir, adminPassword string, faults []string) {
	fmt.Printf(`
FlowLens demo is running.

  Web UI:    %[1]s/   user admin, password %[4]s
  API token: %[2]s   (CLI, agents, /api/)
  Data dir:  %[3]s

Try, in another terminal:
  export FLOWLENS_SERVER=%[1]s FLOWLENS_TOKEN=%[2]s
  flowlens insights top --since 15m
  flowlens insights top --metric retransmissions --by flow --limit 10
  flowlens monitors list
  flowlens monitors get zone-a-to-zone-b --output json
  flowlens alarms list
  flowlens query --group demo-vpc --since 3h 'filter action="REJECT" | stats count(*) as n by srcAddr | sort n desc | limit 10'
  flowlens internet events
  flowlens metrics list
`, srv.URL(), srv.Token(), dataDir, adminPassword)
	header := "\nFaults the simulated fleet will inject (after = from now):"
	for _, f := range faults {
		if f != "" {
			if header != "" {
				fmt.Println(header)
				header = ""
			}
			fmt.Println("  " + f)
		}
	}
	fmt.Println("\nPress Ctrl-C to stop.")
}

// demoFleetConfig checks the demo's fleet options before the server starts.
func demoFleetConfig(agents, flows, internetClients int, interval time.Duration, faults []string) (sim.Config, error) {
	topo, err := topology.Parse(examples.Topology, examples.TopologyName)
	if err != nil {
		return sim.Config{}, err
	}
	cfg := sim.Config{Topology: topo, Agents: agents, FlowsPerAgent: flows, Interval: interval,
		InternetClients: internetClients, Seed: uint64(time.Now().UnixNano()), DrainTimeout: 10 * time.Second}
	for _, f := range faults {
		if f == "" {
			continue
		}
		ft, err := sim.ParseFault(f)
		if err != nil {
			return sim.Config{}, fmt.Errorf("--fault %q: %w", f, err)
		}
		cfg.Faults = append(cfg.Faults, ft)
	}
	return cfg, nil
}

func runDemoFleet(ctx context.Context, g *globals, srv *server.Server, cfg sim.Config) {
	cfg.Server, cfg.Token = srv.URL(), srv.Token()
	if _, err := sim.Run(ctx, cfg, g.logger().With("component", "sim")); err != nil && ctx.Err() == nil {
		g.logger().Error("simulated fleet stopped", "err", err)
	}
}
