// Command flowlens is the FlowLens server and its command-line client.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/apiclient"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// globals are the flags every client command shares.
type globals struct {
	server   string
	token    string
	insecure bool
	output   string
	logLevel string
}

func (g *globals) client() *apiclient.Client {
	return apiclient.New(g.server, g.token, g.insecure)
}

func (g *globals) logger() *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
		lvl = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "flowlens:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "flowlens",
		Short: "Self-hosted network flow performance monitor",
		Long: `FlowLens measures the TCP performance of real traffic on every host (flowlens-agent),
places every flow in your topology and ranks the top contributors; runs monitors with a
network health indicator that names the degraded segment; evaluates alarms (webhooks,
Alertmanager); imports VPC Flow Logs and queries them with the Logs Insights language;
and scores internet-facing performance per city-network. Web UI on the server's URL.

Start with:  flowlens demo          (server + simulated fleet, nothing else needed)
Then try:    flowlens insights top --metric retransmissions --since 15m
             flowlens monitors list

Client commands reach the server at --server (FLOWLENS_SERVER, default ` + apiclient.DefaultServer + `)
with the token in --token (FLOWLENS_TOKEN).`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.server, "server", apiclient.ServerFromEnv(), "FlowLens server URL (env FLOWLENS_SERVER)")
	pf.StringVar(&g.token, "token", os.Getenv("FLOWLENS_TOKEN"), "API token (env FLOWLENS_TOKEN)")
	pf.Lookup("token").DefValue = "" // --help must not print the secret
	pf.BoolVar(&g.insecure, "insecure", false, "skip TLS certificate verification")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.AddCommand(newServerCmd(g), newDemoCmd(g), newSimCmd(g), newInsightsCmd(g), newTopologyCmd(g))
	root.AddCommand(newLabCmd(g))
	root.AddCommand(newInternetCmd(g))
	root.AddCommand(newMonitorsCmd(g))
	root.AddCommand(newAlarmsCmd(g), newMetricFiltersCmd(g))
	root.AddCommand(newFlowLogsCmd(g))
	root.AddCommand(newMetricsCmd(g))
	root.AddCommand(newQueryCmd(g))
	root.AddCommand(newUsersCmd())
	root.AddCommand(newDiagnoseCmd(g))
	return root
}
