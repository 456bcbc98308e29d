package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/health"
	"github.com/flowlens/flowlens/monitor"
)

func newMonitorsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "monitors",
		Aliases: []string{"monitor"},
		Short:   "Monitors: metrics and the network health indicator for a scope of your network",
		Long: `A monitor watches the flows between local resources (where agents run: subnet, network,
zone, region, host-group) and remote resources (the same kinds, service:ID, internet, or
everywhere when none is given). Every period (default 60s, minimum 10s) it publishes
data_transferred, retransmissions, timeouts, round_trip_time (avg, p50, p90, p99),
retransmission_rate, failed_connections and health_indicator as metric points
(namespace FlowLens/Monitors, dimension monitor=NAME) and flowlens_monitor_* gauges, the top
contributors with the path each crosses, and the network health indicator: HEALTHY,
DEGRADED or UNKNOWN, with the evidence (ranked segments, affected host pairs, a host when
the anomaly is confined to one).

Monitors can also be declared in the server's --config file (monitors: section).`,
	}
	cmd.AddCommand(newMonitorsCreateCmd(g), newMonitorsListCmd(g), newMonitorsGetCmd(g),
		newMonitorsUpdateCmd(g), newMonitorsDeleteCmd(g), newMonitorsEvaluationsCmd(g))
	return cmd
}

func checkMonitorOutput(o string) error {
	if o != "table" && o != "json" {
		return fmt.Errorf("--output %q: want table or json", o)
	}
	return nil
}

func newMonitorsCreateCmd(g *globals) *cobra.Command {
	var req monitor.Request
	var output string
	cmd := &cobra.Command{
		Use:   "create NAME --local KIND:ID [--remote KIND:ID]... [--period D]",
		Short: "Create a monitor",
		Long: `Create a monitor. NAME is 1-255 letters, digits, '_', '.' or '-'. Resources are KIND:ID
with KIND subnet, network, zone, region or host-group (local and remote), service (remote),
or the word internet (remote). Without --remote the monitor covers every remote end.`,
		Example: `  flowlens monitors create web-a-out --local subnet:web-a --local zone:zone-a \
      --remote zone:zone-b --remote service:objstore --period 10s
  flowlens monitors create frontends --local host-group:frontends --remote internet`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkMonitorOutput(output); err != nil {
				return err
			}
			req.Name = args[0]
			if _, err := req.Spec(); err != nil { // fail fast, before the network
				return err
			}
			var v monitor.View
			if err := g.client().CreateMonitor(cmd.Context(), req, &v); err != nil {
				return err
			}
			if output == "json" {
				return writeJSONTo(os.Stdout, v)
			}
			fmt.Printf("monitor %s created (period %ds, status %s)\n", v.Name, v.PeriodSeconds, v.Status)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&req.Local, "local", nil, "local resource KIND:ID (repeatable, at least one)")
	f.StringArrayVar(&req.Remote, "remote", nil, "remote resource KIND:ID or internet (repeatable; none: everywhere)")
	f.StringVar(&req.Period, "period", "60s", "evaluation period, 10s to 1h")
	f.StringVarP(&output, "output", "o", "table", "table or json")
	cmd.MarkFlagRequired("local")
	return cmd
}

func newMonitorsUpdateCmd(g *globals) *cobra.Command {
	var local, remote []string
	var period string
	var everywhere bool
	cmd := &cobra.Command{
		Use:   "update NAME [--local KIND:ID]... [--remote KIND:ID]... [--everywhere] [--period D]",
		Short: "Change a monitor's resources or period",
		Long: `Change a monitor. Each flag given replaces that part of the definition (--local replaces
every local resource, --remote every remote one); --everywhere removes the remote
resources. Changing the period restarts the monitor's evaluation (status pending).`,
		Example: `  flowlens monitors update web-a-out --period 30s
  flowlens monitors update web-a-out --remote zone:zone-b --remote zone:zone-c`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var cur monitor.View
			if err := g.client().GetMonitor(cmd.Context(), args[0], &cur); err != nil {
				return err
			}
			req := monitor.Request{Name: cur.Name, Local: cur.Local, Remote: cur.Remote, PeriodSeconds: cur.PeriodSeconds}
			if cmd.Flags().Changed("local") {
				req.Local = local
			}
			if cmd.Flags().Changed("remote") {
				req.Remote = remote
			}
			if everywhere {
				req.Remote = nil
			}
			if cmd.Flags().Changed("period") {
				req.Period, req.PeriodSeconds = period, 0
			}
			if _, err := req.Spec(); err != nil {
				return err
			}
			var v monitor.View
			if err := g.client().UpdateMonitor(cmd.Context(), args[0], req, &v); err != nil {
				return err
			}
			fmt.Printf("monitor %s updated (period %ds, status %s)\n", v.Name, v.PeriodSeconds, v.Status)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&local, "local", nil, "local resources, replacing the current ones (repeatable)")
	f.StringArrayVar(&remote, "remote", nil, "remote resources, replacing the current ones (repeatable)")
	f.BoolVar(&everywhere, "everywhere", false, "remove the remote resources: every remote end")
	f.StringVar(&period, "period", "", "evaluation period, 10s to 1h")
	return cmd
}

func newMonitorsDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete a monitor and its evaluations (its metric points stay until retention)",
		Example: `  flowlens monitors delete web-a-out`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.client().DeleteMonitor(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Printf("monitor %s deleted\n", args[0])
			return nil
		},
	}
}

func newMonitorsListCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List monitors with their latest health",
		Example: `  flowlens monitors list
  flowlens monitors list -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkMonitorOutput(output); err != nil {
				return err
			}
			var resp struct {
				Monitors []monitor.View `json:"monitors"`
			}
			if err := g.client().ListMonitors(cmd.Context(), &resp); err != nil {
				return err
			}
			if output == "json" {
				return writeJSONTo(os.Stdout, resp.Monitors)
			}
			return printMonitorList(os.Stdout, resp.Monitors)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func newMonitorsGetCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Show a monitor: its health with the evidence, metrics and top contributors",
		Long: `Show a monitor and its latest evaluated period. JSON output is the API's object:
name, local, remote, period_seconds, status, health {state, evidence {summary, segments
[{id, kind, rank, degraded, score, affected_pairs, independent_pairs, baseline, now, ...}],
attributed_host, hosts}}, metrics and contributors.`,
		Example: `  flowlens monitors get web-a-out
  flowlens monitors get web-a-out -o json | jq .health.state`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkMonitorOutput(output); err != nil {
				return err
			}
			var v monitor.View
			if err := g.client().GetMonitor(cmd.Context(), args[0], &v); err != nil {
				return err
			}
			if output == "json" {
				return writeJSONTo(os.Stdout, v)
			}
			return printMonitor(os.Stdout, &v)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func newMonitorsEvaluationsCmd(g *globals) *cobra.Command {
	var output string
	var limit int
	cmd := &cobra.Command{
		Use:     "evaluations NAME",
		Short:   "Show a monitor's latest evaluated periods, newest first",
		Example: `  flowlens monitors evaluations web-a-out --limit 30`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkMonitorOutput(output); err != nil {
				return err
			}
			var resp struct {
				Evaluations []monitor.Evaluation `json:"evaluations"`
			}
			if err := g.client().MonitorEvaluations(cmd.Context(), args[0], limit, &resp); err != nil {
				return err
			}
			if output == "json" {
				return writeJSONTo(os.Stdout, resp.Evaluations)
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "WINDOW START\tSTATE\tBYTES\tRETRANS\tRETRANS RATE\tRTT P50 µs\tSUMMARY")
			for _, ev := range resp.Evaluations {
				rtt := "-"
				if ev.Metrics.RoundTripTime != nil {
					rtt = fmt.Sprintf("%.0f", ev.Metrics.RoundTripTime.P50)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.4f\t%s\t%s\n", ev.WindowStart.Format(time.RFC3339), ev.Health.State,
					ev.Metrics.DataTransferred, ev.Metrics.Retransmissions, ev.Metrics.RetransmissionRate, rtt, ev.Health.Evidence.Summary)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	cmd.Flags().IntVar(&limit, "limit", 20, "periods, 1-1000")
	return cmd
}

func orEverywhere(rs []string) string {
	if len(rs) == 0 {
		return "everywhere"
	}
	return strings.Join(rs, ",")
}

func printMonitorList(w io.Writer, ms []monitor.View) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tLOCAL\tREMOTE\tPERIOD\tSTATUS\tHEALTH\tSUMMARY")
	for _, m := range ms {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%ds\t%s\t%s\t%s\n", m.Name, strings.Join(m.Local, ","), orEverywhere(m.Remote),
			m.PeriodSeconds, m.Status, m.Health.State, m.Health.Evidence.Summary)
	}
	return tw.Flush()
}

func printMonitor(w io.Writer, v *monitor.View) error {
	fmt.Fprintf(w, "Monitor:  %s (%s, period %ds, status %s", v.Name, v.Source, v.PeriodSeconds, v.Status)
	if v.StatusMessage != "" {
		fmt.Fprintf(w, ": %s", v.StatusMessage)
	}
	fmt.Fprintf(w, ")\nLocal:    %s\nRemote:   %s\n", strings.Join(v.Local, ", "), orEverywhere(v.Remote))
	if v.WindowStart != nil {
		fmt.Fprintf(w, "Window:   %s - %s\n", v.WindowStart.Format(time.RFC3339), v.WindowEnd.Format(time.RFC3339))
	}
	fmt.Fprintf(w, "Health:   %s  %s\n", v.Health.State, v.Health.Evidence.Summary)
	if h := v.Health.Evidence.AttributedHost; h != "" {
		fmt.Fprintf(w, "Host:     %s\n", h)
	}
	if m := v.Metrics; m != nil {
		fmt.Fprintf(w, "Metrics:  data_transferred=%d retransmissions=%d timeouts=%d failed_connections=%d retransmission_rate=%.5f",
			m.DataTransferred, m.Retransmissions, m.Timeouts, m.FailedConnections, m.RetransmissionRate)
		if r := m.RoundTripTime; r != nil {
			fmt.Fprintf(w, " rtt_us avg=%.0f p50=%.0f p90=%.0f p99=%.0f", r.Avg, r.P50, r.P90, r.P99)
		}
		fmt.Fprintln(w)
	}
	if segs := v.Health.Evidence.Segments; len(segs) > 0 {
		fmt.Fprintln(w, "\nSegments on the monitor's paths, most likely culprit first:")
		printSegments(w, segs)
	}
	if cs := v.Contributors[monitor.MetricRetransmissions]; len(cs) > 0 {
		fmt.Fprintln(w, "\nTop contributors by retransmissions:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "HOST\tLOCAL IP\tREMOTE IP\tPORT\tCATEGORY\tVALUE\tPATH")
		for _, c := range cs {
			ids := make([]string, len(c.Path))
			for i, h := range c.Path {
				ids[i] = h.ID
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%.0f\t%s\n", c.LocalHost, c.LocalIP, c.RemoteIP, c.Port, c.Category, c.Value, strings.Join(ids, " -> "))
		}
		tw.Flush()
	}
	return nil
}

func printSegments(w io.Writer, segs []health.SegmentEvidence) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RANK\tSEGMENT\tDEGRADED\tSCORE\tAFFECTED/ACTIVE\tINDEPENDENT/NEEDED\tRETRANS RATE (BASE)\tRTT µs (BASE)\tWHY")
	for _, s := range segs {
		fmt.Fprintf(tw, "%d\t%s\t%v\t%.2f\t%d/%d\t%d/%d\t%.4f (%.4f)\t%.0f (%.0f)\t%s\n", s.Rank, s.ID, s.Degraded, s.Score,
			s.AffectedPairs, s.ActivePairs, s.IndependentPairs, s.RequiredPairs, s.Now.RetransmissionRate,
			s.Baseline.RetransmissionRate, s.Now.RTTUS, s.Baseline.RTTUS, s.Reason)
	}
	tw.Flush()
}
