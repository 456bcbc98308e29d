package main

import (
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/apiclient"
)

func newMetricsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "metrics",
		Short: "List and read the metric series that monitors, metric filters and the internet monitor publish",
		Long: `Metric series are what alarms watch: monitors publish under FlowLens/Monitors, metric
filters under FlowLens/Logs (or their own namespace), the internet monitor under
FlowLens/Internet. A series is a namespace, a metric name and a set of dimensions.`,
	}
	cmd.AddCommand(newMetricsListCmd(g), newMetricsGetCmd(g))
	return cmd
}

func newMetricsListCmd(g *globals) *cobra.Command {
	var namespace string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List stored metric series",
		Example: "  flowlens metrics list --namespace FlowLens/Monitors",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(g.output); err != nil {
				return err
			}
			ids, err := g.client().Metrics(cmd.Context(), namespace)
			if err != nil {
				return err
			}
			return printMetricSeries(cmd.OutOrStdout(), g.output, ids)
		},
	}
	cmd.Flags().StringVar(&namespace, "namespace", "", "only this namespace")
	cmd.Flags().StringVarP(&g.output, "output", "o", "table", "table, json or csv")
	return cmd
}

func newMetricsGetCmd(g *globals) *cobra.Command {
	var namespace, metric, since, start, end string
	var dims []string
	cmd := &cobra.Command{
		Use:   "get",
		Short: "Print the points of one metric series",
		Example: `  flowlens metrics get --namespace FlowLens/Monitors --metric retransmissions --dimension monitor=web --since 1h
  flowlens metrics get --namespace FlowLens/Logs --metric ssh_rejects --start 2026-11-22T00:00:00Z --end 2026-11-22T06:00:00Z -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(g.output); err != nil {
				return err
			}
			q := url.Values{"namespace": {namespace}, "metric": {metric}, "dimension": dims}
			for k, v := range map[string]string{"since": since, "start": start, "end": end} {
				if v != "" {
					q.Set(k, v)
				}
			}
			pts, err := g.client().MetricPoints(cmd.Context(), q)
			if err != nil {
				return err
			}
			return printMetricPoints(cmd.OutOrStdout(), g.output, pts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&namespace, "namespace", "", "metric namespace (required)")
	f.StringVar(&metric, "metric", "", "metric name (required)")
	f.StringArrayVar(&dims, "dimension", nil, "dimension NAME=VALUE (repeat); the series' dimensions must match exactly")
	f.StringVar(&since, "since", "", "how far back (15m, 2h, 7d; default 15m)")
	f.StringVar(&start, "start", "", "start, RFC 3339 or Unix seconds")
	f.StringVar(&end, "end", "", "end, RFC 3339 or Unix seconds (default now)")
	f.StringVarP(&g.output, "output", "o", "table", "table, json or csv")
	cmd.MarkFlagRequired("namespace")
	cmd.MarkFlagRequired("metric")
	return cmd
}

func dimensionText(d map[string]string) string {
	if len(d) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + d[k]
	}
	return strings.Join(parts, ",")
}

func printMetricSeries(w io.Writer, output string, ids []apiclient.MetricSeries) error {
	switch output {
	case "json":
		if ids == nil {
			ids = []apiclient.MetricSeries{}
		}
		return writeJSONTo(w, ids)
	case "csv":
		fmt.Fprintln(w, "namespace,metric,dimensions")
		for _, id := range ids {
			fmt.Fprintf(w, "%s,%s,%q\n", id.Namespace, id.Metric, dimensionText(id.Dimensions))
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tMETRIC\tDIMENSIONS")
	for _, id := range ids {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", id.Namespace, id.Metric, dimensionText(id.Dimensions))
	}
	return tw.Flush()
}

func printMetricPoints(w io.Writer, output string, p *apiclient.MetricPoints) error {
	switch output {
	case "json":
		return writeJSONTo(w, p)
	case "csv":
		fmt.Fprintln(w, "time,period_seconds,value,count,sum,min,max")
		for _, pt := range p.Points {
			fmt.Fprintf(w, "%s,%g,%g,%d,%g,%g,%g\n", pt.Time.Format(time.RFC3339), pt.PeriodSeconds, pt.Value, pt.Count, pt.Sum, pt.Min, pt.Max)
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tPERIOD\tVALUE\tCOUNT\tMIN\tMAX")
	for _, pt := range p.Points {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", pt.Time.Format(time.RFC3339), time.Duration(pt.PeriodSeconds*float64(time.Second)),
			strconv.FormatFloat(pt.Value, 'g', 6, 64), pt.Count, strconv.FormatFloat(pt.Min, 'g', 6, 64), strconv.FormatFloat(pt.Max, 'g', 6, 64))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(p.Points) == 0 {
		fmt.Fprintf(w, "no points for %s/%s %s between %s and %s\n", p.Namespace, p.Metric, dimensionText(p.Dimensions),
			p.Start.Format(time.RFC3339), p.End.Format(time.RFC3339))
	}
	return nil
}
