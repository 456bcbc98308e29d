package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/examples"
	"github.com/flowlens/flowlens/server"
	"github.com/flowlens/flowlens/sim"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
	"github.com/flowlens/flowlens/web"
)

func newDemoCmd(g *globals) *cobra.Command {
	cfg := server.Config{Retention: store.DefaultRetention}
	var mods moduleFlags
	var agents, flows int
	var interval time.Duration
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
			adminPassword := demoAdminPassword(&mods)
			cfg.Modules = mods.factories()
			return runServer(cmd.Context(), g, cfg, func(srv *server.Server) error {
				printDemoBanner(srv, cfg.DataDir, adminPassword)
				go runDemoFleet(cmd.Context(), g, srv, agents, flows, interval)
				return nil
			})
		},
	}
	f := cmd.Flags()
	mods.register(f)
	f.StringVar(&cfg.DataDir, "data-dir", "", "keep data here (default: a temporary directory removed at exit)")
	f.StringVar(&cfg.Listen, "listen", server.DefaultListen, "address to listen on")
	f.IntVar(&agents, "agents", 20, "simulated agents")
	f.IntVar(&flows, "flows-per-agent", 40, "conversations per simulated agent")
	f.DurationVar(&interval, "interval", 5*time.Second, "report interval of the simulated agents")
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

func printDemoBanner(srv *server.Server, dataDir, adminPassword string) {
	fmt.Printf(`
FlowLens demo is running.

  Web UI:    %[1]s/   user admin, password %[4]s
  API token: %[2]s   (CLI, agents, /api/)
  Data dir:  %[3]s

Try, in another terminal:
  export FLOWLENS_SERVER=%[1]s FLOWLENS_TOKEN=%[2]s
  flowlens insights top --since 15m
  flowlens insights top --metric retransmissions --by flow --limit 10
  flowlens insights series --metric round-trip-time --since 30m --step 1m
  curl -s -H "Authorization: Bearer $FLOWLENS_TOKEN" %[1]s/api/v1/insights/top

Press Ctrl-C to stop.
`, srv.URL(), srv.Token(), dataDir, adminPassword)
}

func runDemoFleet(ctx context.Context, g *globals, srv *server.Server, agents, flows int, interval time.Duration) {
	topo, err := topology.Parse(examples.Topology, examples.TopologyName)
	if err != nil {
		g.logger().Error("demo topology", "err", err)
		return
	}
	_, err = sim.Run(ctx, sim.Config{Server: srv.URL(), Token: srv.Token(), Topology: topo, Agents: agents,
		FlowsPerAgent: flows, Interval: interval, Seed: uint64(time.Now().UnixNano()), DrainTimeout: 10 * time.Second}, g.logger().With("component", "sim"))
	if err != nil && ctx.Err() == nil {
		g.logger().Error("simulated fleet stopped", "err", err)
	}
}
