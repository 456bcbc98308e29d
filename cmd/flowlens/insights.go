package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/insights"
)

func newInsightsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "insights",
		Short: "Workload insights: top contributors and their time series",
	}
	cmd.AddCommand(newInsightsTopCmd(g), newInsightsSeriesCmd(g))
	return cmd
}

// insightsFlags are shared by top and series.
func insightsFlags(cmd *cobra.Command, req *insights.Request, output *string) {
	f := cmd.Flags()
	f.StringVar(&req.Metric, "metric", "data-transferred", "data-transferred, retransmissions, timeouts or round-trip-time")
	f.StringVar(&req.Category, "category", "", "service, internet, inter-region, inter-network, inter-zone, intra-zone or unclassified (default: all)")
	f.StringVar(&req.Since, "since", "", "look back this long, e.g. 15m, 6h, 7d (default 15m)")
	f.StringVar(&req.Start, "start", "", "range start: RFC 3339 or Unix seconds")
	f.StringVar(&req.End, "end", "", "range end: RFC 3339 or Unix seconds (default now)")
	f.IntVar(&req.Limit, "limit", insights.DefaultLimit, "rows, 1-500")
	f.StringVar(&req.By, "by", "resource", "resource (local subnet -> remote resource) or flow (IPs and port)")
	f.StringVarP(output, "output", "o", "table", "table, json or csv")
}

func checkOutput(o string) error {
	switch o {
	case "table", "json", "csv":
		return nil
	}
	return fmt.Errorf("--output %q: want table, json or csv", o)
}

func newInsightsTopCmd(g *globals) *cobra.Command {
	var req insights.Request
	var output string
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Rank the top contributors to a metric",
		Long: `Rank the top contributors to a metric over a time range, by resource (local
region/zone/network/subnet to remote resource, with the traffic category) or by flow
(local IP, remote IP, service port, direction). round-trip-time ranks by mean RTT in µs.

JSON output is an array of objects with snake_case keys and a numeric "value".`,
		Example: `  flowlens insights top --metric retransmissions --since 1h
  flowlens insights top --metric data-transferred --category inter-zone --by flow --limit 50 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if _, err := req.Query(time.Now()); err != nil { // fail fast, before the network
				return err
			}
			var resp struct {
				Rows []insights.Row `json:"rows"`
			}
			if err := g.client().Get(cmd.Context(), "/api/v1/insights/top", req.Values(), &resp); err != nil {
				return err
			}
			return printRows(os.Stdout, output, resp.Rows, req.By == "flow")
		},
	}
	insightsFlags(cmd, &req, &output)
	return cmd
}

func newInsightsSeriesCmd(g *globals) *cobra.Command {
	var req insights.Request
	var output string
	cmd := &cobra.Command{
		Use:   "series",
		Short: "Time series of the top contributors to a metric",
		Long: `The top contributors of 'insights top', each as a time series in --step buckets
(default 5m). JSON output is an array of contributors, each with its "points"
({"time": unix seconds, "value": number}).`,
		Example: `  flowlens insights series --metric retransmissions --since 6h --step 10m --limit 5`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if _, err := req.SeriesQuery(time.Now()); err != nil {
				return err
			}
			var resp struct {
				Series []insights.SeriesRow `json:"series"`
			}
			if err := g.client().Get(cmd.Context(), "/api/v1/insights/series", req.Values(), &resp); err != nil {
				return err
			}
			return printSeries(os.Stdout, output, resp.Series, req.By == "flow")
		},
	}
	insightsFlags(cmd, &req, &output)
	cmd.Flags().StringVar(&req.Step, "step", "5m", "bucket width")
	return cmd
}

func printRows(w io.Writer, output string, rows []insights.Row, byFlow bool) error {
	switch output {
	case "json":
		if rows == nil {
			rows = []insights.Row{}
		}
		return writeJSONTo(w, rows)
	case "csv":
		cols := insights.Columns(byFlow)
		cw := csv.NewWriter(w)
		cw.Write(cols)
		for i := range rows {
			cw.Write(cells(&rows[i], cols))
		}
		cw.Flush()
		return cw.Error()
	}
	if len(rows) == 0 {
		fmt.Fprintln(w, "no flows in that range")
		return nil
	}
	cols := insights.Columns(byFlow)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(cols, "\t")))
	for i := range rows {
		fmt.Fprintln(tw, strings.Join(cells(&rows[i], cols), "\t"))
	}
	return tw.Flush()
}

func cells(r *insights.Row, cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = r.Cell(c)
		if out[i] == "" {
			out[i] = "-"
		}
	}
	return out
}

func printSeries(w io.Writer, output string, series []insights.SeriesRow, byFlow bool) error {
	switch output {
	case "json":
		if series == nil {
			series = []insights.SeriesRow{}
		}
		return writeJSONTo(w, series)
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"contributor", "time", "value"})
		for i := range series {
			name := contributor(&series[i].Row, byFlow)
			for _, p := range series[i].Points {
				cw.Write([]string{name, time.Unix(p.Time, 0).UTC().Format(time.RFC3339), strconv.FormatFloat(p.Value, 'f', -1, 64)})
			}
		}
		cw.Flush()
		return cw.Error()
	}
	if len(series) == 0 {
		fmt.Fprintln(w, "no flows in that range")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTRIBUTOR\tTIME\tVALUE")
	for i := range series {
		name := contributor(&series[i].Row, byFlow)
		for _, p := range series[i].Points {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", name, time.Unix(p.Time, 0).Format("2006-01-02 15:04:05"), strconv.FormatFloat(p.Value, 'f', -1, 64))
		}
	}
	return tw.Flush()
}

func contributor(r *insights.Row, byFlow bool) string {
	if byFlow {
		return fmt.Sprintf("%s>%s:%d", r.LocalIP, r.RemoteIP, r.Port)
	}
	local := r.LocalSubnet
	if local == "" {
		local = "unknown"
	}
	return fmt.Sprintf("%s>%s(%s)", local, r.RemoteResource, r.Category)
}

func writeJSONTo(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
