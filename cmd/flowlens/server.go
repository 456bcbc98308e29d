package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/feed"
	"github.com/flowlens/flowlens/ingest"
	"github.com/flowlens/flowlens/server"
)

func newServerCmd(g *globals) *cobra.Command {
	var cfg server.Config
	var mods moduleFlags
	var stores storeFlags
	var tokensFile, agentTokensFile string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the FlowLens server on an embedded DuckDB store",
		Long: `Run the FlowLens server: agent ingest, workload insights, the JSON API, Prometheus
/metrics and the web page, keeping everything in one DuckDB file: DATA_DIR/flowlens.duckdb,
or the file --store duckdb:PATH names. The data dir keeps the token and the web UI's
password either way. (--store clickhouse://... is reserved for the scale-out store, which
is not built yet.)

The CLI and the API authenticate with an admin bearer token: FLOWLENS_TOKEN (or --token),
plus any in --tokens-file (one per line, for rotation). With none, the server generates one
and keeps it in DATA_DIR/token. An admin token reaches the whole API, ingest included.

Agents should get agent tokens instead (--agent-tokens-file): each may only POST
/api/v1/ingest (401/403 everywhere else), and only for the agent ids its glob matches (403
otherwise), so a leaked agent token cannot read flows, create alarms or report as another
host. One token per line, at least 16 characters, optionally followed by whitespace and a
glob of agent ids (path.Match syntax: * matches any run of characters but /, ? one
character, [a-z] a class; * when absent); # starts a comment. For example:
  3f6c0e1d2b9a8c7d6e5f4a3b   web-*
  9a8b7c6d5e4f3a2b1c0d9e8f   db-[0-9]*
Both token files are read at start; restart the server to change them.

It listens on 127.0.0.1:8080 unless --listen says otherwise; give --tls-cert and --tls-key
before listening beyond loopback.`,
		Example: `  FLOWLENS_TOKEN=secret flowlens server --data-dir /var/lib/flowlens --topology topology.yaml
  flowlens server --data-dir ./data --listen 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.token != "" {
				cfg.Tokens = append(cfg.Tokens, g.token)
			}
			if tokensFile != "" {
				more, err := readTokens(tokensFile)
				if err != nil {
					return err
				}
				cfg.Tokens = append(cfg.Tokens, more...)
			}
			if agentTokensFile != "" {
				agents, err := server.LoadAgentTokens(agentTokensFile)
				if err != nil {
					return err
				}
				cfg.AgentTokens = agents
			}
			open, err := stores.opener(cfg.DataDir)
			if err != nil {
				return err
			}
			cfg.OpenStore, cfg.Modules = open, mods.builder(nil)
			return runServer(cmd.Context(), g, cfg, nil)
		},
	}
	f := cmd.Flags()
	mods.register(f)
	stores.register(f, true)
	f.StringVar(&cfg.DataDir, "data-dir", "", "directory for the DuckDB file (unless --store) and state: token, web UI password, uploads' temporary files (required)")
	f.StringVar(&cfg.Listen, "listen", server.DefaultListen, "address to listen on")
	f.StringVar(&cfg.TopologyPath, "topology", "", "topology YAML file (see examples/topology.yaml)")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate file (PEM)")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "TLS private key file (PEM)")
	f.StringVar(&cfg.DebugListen, "debug-listen", "", "serve Go pprof profiles on this address (e.g. 127.0.0.1:6060)")
	f.StringVar(&tokensFile, "tokens-file", "", "file with more admin tokens, one per line")
	f.StringVar(&agentTokensFile, "agent-tokens-file", "", "file of ingest-only agent tokens: TOKEN [AGENT-ID-GLOB] per line (see above)")
	f.IntVar(&cfg.Ingest.MaxConcurrentDecodes, "ingest-max-decodes", 0,
		"agent reports decoded at once (default 2 per CPU); each may hold up to ~50 MB while it is decoded; others wait up to 5s, then get 503 + Retry-After")
	f.IntVar(&cfg.Ingest.Agents.MaxAgents, "agents-max", ingest.DefaultAgentsConfig().MaxAgents,
		"agents listed at once (GET /api/v1/agents, web UI); new agents past it are not listed, their flows are still stored")
	f.DurationVar(&cfg.Ingest.Agents.IdleExpiry, "agents-expire-after", ingest.DefaultAgentsConfig().IdleExpiry,
		"forget an agent in the list after it has not reported for this long")
	f.IntVar(&cfg.Ingest.Feed.MaxQueuedRows, "feed-max-queued-rows", feed.DefaultConfig().MaxQueuedRows,
		"stored flow rows that may wait for one feature following the flow stream (monitors, internet monitor, web UI rate); past it that feature misses commits (flowlens_feed_dropped_batches_total) rather than slowing ingest")
	f.IntVar(&cfg.Ingest.Feed.MaxQueuedCommits, "feed-max-queued-commits", feed.DefaultConfig().MaxQueuedCommits,
		"commits that may wait for one feature following the flow stream; see --feed-max-queued-rows")
	f.DurationVar(&cfg.Ingest.SlowSubscriber, "feed-slow-subscriber", 0, "attach a flow-stream subscriber that sleeps this long per commit (benchmarks only)")
	f.MarkHidden("feed-slow-subscriber")
	f.IntVar(&cfg.Limits.MaxConnections, "max-connections", server.DefaultMaxConnections, "HTTP connections served at once; more are closed on arrival (every agent keeps one open: set it above the number of agents plus users)")
	f.DurationVar(&cfg.Limits.BodyTimeout, "request-body-timeout", server.DefaultBodyTimeout, "a request body (agent report, API call) must arrive within this; flow-log uploads use --upload-stall-timeout instead")
	cmd.MarkFlagRequired("data-dir")
	return cmd
}

// runServer starts a server, calls started (if any) once it is ready, and
// runs until ctx is done.
func runServer(ctx context.Context, g *globals, cfg server.Config, started func(*server.Server) error) error {
	log := g.logger()
	// Ingest allocates a lot of short-lived memory per report; collecting
	// less often halves the GC's share of the CPU. GOGC still overrides.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	// Everything the server creates (the DuckDB WAL, re-created after
	// every checkpoint, spill files) is private to its account.
	server.RestrictUmask()
	srv, err := server.New(cfg, log)
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	stop := func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return srv.Stop(sctx)
	}
	if started != nil {
		if err := started(srv); err != nil {
			stop()
			return err
		}
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-waitChan(srv.Wait):
		if err != nil {
			stop()
			return fmt.Errorf("server stopped: %w", err)
		}
	}
	return stop()
}

func waitChan(wait func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- wait() }()
	return ch
}

func readTokens(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokens file: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" && !strings.HasPrefix(t, "#") {
			out = append(out, t)
		}
	}
	return out, sc.Err()
}
