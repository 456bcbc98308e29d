package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/internet"
)

func newInternetCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "internet",
		Short: "Internet monitor: city-network performance, availability and health events",
		Long: `The internet monitor follows the internet-facing flows of your hosts per city-network (the
clients' city and the ASN their traffic comes through; give the server --geoip-city and
--geoip-asn). Every period it measures traffic, RTT p50/p90/p95, retransmission and
failed-connection rates, and scores availability and performance as the percentage of
traffic not impacted against each city-network's own baseline. Health events say whose
network is at fault: one ASN across cities (asn), many ASNs in one city (metro) or
everything at once (local: our side).

Filters (--filter, repeatable, all must hold): city=NAME, country=CC, asn=64500, and
the same with != (city!=Paris).`,
	}
	cmd.AddCommand(newInternetMonitorsCmd(g), newInternetQueryCmd(g, "measurements"),
		newInternetQueryCmd(g, "top-locations"), newInternetQueryCmd(g, "overall"), newInternetEventsCmd(g))
	return cmd
}

func checkInternetOutput(o string) error {
	if o != "table" && o != "json" {
		return fmt.Errorf("--output %q: want table or json", o)
	}
	return nil
}

func newInternetMonitorsCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "monitors",
		Short: "List, create and delete internet monitors",
		Example: `  flowlens internet monitors
  flowlens internet monitors create web --period 1m
  flowlens internet monitors create eu-web --network vpc-eu --max-city-networks 500
  flowlens internet monitors delete web`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkInternetOutput(output); err != nil {
				return err
			}
			var mons []internet.Monitor
			if err := g.client().InternetMonitors(cmd.Context(), &mons); err != nil {
				return err
			}
			return printMonitors(os.Stdout, output, mons)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	cmd.AddCommand(newInternetCreateCmd(g), &cobra.Command{
		Use: "delete NAME", Short: "Delete an internet monitor (its measurements and events stay)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.client().DeleteInternetMonitor(cmd.Context(), args[0])
		},
	})
	return cmd
}

func newInternetCreateCmd(g *globals) *cobra.Command {
	var mon internet.Monitor
	var period time.Duration
	var output string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an internet monitor",
		Long: `Create an internet monitor. Without --network, --subnet or --host-group it covers the
internet traffic of every local resource. It tracks the largest city-networks until
--traffic-share percent of the traffic is covered, at most --max-city-networks (0: no cap).
Events open when the overall availability or performance score falls under
--overall-threshold, or a city-network's under --local-threshold while its impact is at
least --min-traffic-impact percent of the monitor's traffic.`,
		Example: `  flowlens internet monitors create web --period 1m
  flowlens internet monitors create frontends --host-group frontends --traffic-share 95`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkInternetOutput(output); err != nil {
				return err
			}
			mon.Name, mon.PeriodSeconds = args[0], int64(period/time.Second)
			if period%time.Second != 0 {
				return fmt.Errorf("--period %s: use whole seconds", period)
			}
			var created internet.Monitor
			if err := g.client().CreateInternetMonitor(cmd.Context(), mon, &created); err != nil {
				return err
			}
			return printMonitors(os.Stdout, output, []internet.Monitor{created})
		},
	}
	f := cmd.Flags()
	f.DurationVar(&period, "period", internet.DefaultPeriod, "measurement period (minimum 1m)")
	f.StringSliceVar(&mon.Networks, "network", nil, "only these local networks (repeatable or comma-separated)")
	f.StringSliceVar(&mon.Subnets, "subnet", nil, "only these local subnets")
	f.StringSliceVar(&mon.HostGroups, "host-group", nil, "only these host groups")
	f.Float64Var(&mon.TrafficShare, "traffic-share", internet.DefaultTrafficShare, "percent of traffic to track, largest city-networks first")
	f.IntVar(&mon.MaxCityNetworks, "max-city-networks", 0, "most city-networks to track (0: no cap)")
	f.Float64Var(&mon.OverallThreshold, "overall-threshold", internet.DefaultOverallThreshold, "overall score (percent) under which an event opens")
	f.Float64Var(&mon.LocalThreshold, "local-threshold", internet.DefaultLocalThreshold, "city-network score (percent) under which a local event opens")
	f.Float64Var(&mon.MinTrafficImpact, "min-traffic-impact", internet.DefaultMinTrafficImpact, "percent of the monitor's traffic a local impact must reach")
	f.StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

// internetQueryFlags are the flags of the read commands.
type internetQueryFlags struct {
	monitor, since, start, end, output, status string
	filters                                    []string
	limit                                      int
}

func (q *internetQueryFlags) register(cmd *cobra.Command, events bool) {
	f := cmd.Flags()
	f.StringVar(&q.monitor, "monitor", "", "monitor name (optional when there is only one)")
	f.StringVar(&q.since, "since", "", "look back this long, e.g. 15m, 6h (default 1h; events: all)")
	f.StringVar(&q.start, "start", "", "range start (RFC 3339)")
	f.StringVar(&q.end, "end", "", "range end (RFC 3339)")
	f.StringArrayVar(&q.filters, "filter", nil, "city=NAME, country=CC, asn=N, or with != (repeatable)")
	f.IntVar(&q.limit, "limit", 0, "rows (default: measurements 1000, top-locations 50)")
	f.StringVarP(&q.output, "output", "o", "table", "table or json")
	if events {
		f.StringVar(&q.status, "status", "", "ACTIVE or RESOLVED (default both)")
	}
}

func (q *internetQueryFlags) values() (url.Values, error) {
	if err := checkInternetOutput(q.output); err != nil {
		return nil, err
	}
	if _, err := internet.ParseFilters(q.filters); err != nil { // fail before the network
		return nil, err
	}
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("monitor", q.monitor)
	set("status", q.status)
	set("start", q.start)
	set("end", q.end)
	if q.since != "" {
		if _, err := time.ParseDuration(q.since); err != nil {
			return nil, fmt.Errorf("--since %q: want a duration like 15m or 6h", q.since)
		}
		v.Set("start", q.since)
	}
	if q.limit > 0 {
		v.Set("limit", strconv.Itoa(q.limit))
	}
	for _, f := range q.filters {
		v.Add("filter", f)
	}
	return v, nil
}

func newInternetQueryCmd(g *globals, what string) *cobra.Command {
	var q internetQueryFlags
	short := map[string]string{
		"measurements":  "Per city-network figures of every period",
		"top-locations": "City-networks ranked by traffic over a range, with traffic-weighted scores and RTT",
		"overall":       "A monitor's overall scores, traffic and traffic-weighted RTT per period",
	}[what]
	cmd := &cobra.Command{
		Use:   what,
		Short: short,
		Example: fmt.Sprintf(`  flowlens internet %[1]s --monitor web --since 30m
  flowlens internet %[1]s --filter country=FR --filter asn!=64500 -o json`, what),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := q.values()
			if err != nil {
				return err
			}
			switch what {
			case "measurements":
				var rows []internet.Measurement
				if err := g.client().InternetQuery(cmd.Context(), what, v, &rows); err != nil {
					return err
				}
				return printInternet(os.Stdout, q.output, rows, measurementTable)
			case "top-locations":
				var rows []internet.TopLocation
				if err := g.client().InternetQuery(cmd.Context(), what, v, &rows); err != nil {
					return err
				}
				return printInternet(os.Stdout, q.output, rows, topLocationTable)
			default:
				var rows []internet.Overall
				if err := g.client().InternetQuery(cmd.Context(), what, v, &rows); err != nil {
					return err
				}
				return printInternet(os.Stdout, q.output, rows, overallTable)
			}
		},
	}
	q.register(cmd, false)
	return cmd
}

func newInternetEventsCmd(g *globals) *cobra.Command {
	var q internetQueryFlags
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Health events: status, type, impacted locations and the cause",
		Long: `List health events, newest first. JSON output is an array of events with status
(ACTIVE, RESOLVED), type (AVAILABILITY, PERFORMANCE, LOCAL_AVAILABILITY, LOCAL_PERFORMANCE),
started_at, ended_at, impacted_locations and cause {kind: asn|metro|local|unknown, asn,
city, summary, evidence}. A filter keeps events with an impacted location that matches.`,
		Example: `  flowlens internet events --status active
  flowlens internet events --filter asn=64500 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := q.values()
			if err != nil {
				return err
			}
			var rows []internet.Event
			if err := g.client().InternetQuery(cmd.Context(), "events", v, &rows); err != nil {
				return err
			}
			return printInternet(os.Stdout, q.output, rows, eventTable)
		},
	}
	q.register(cmd, true)
	return cmd
}

func printInternet[T any](w io.Writer, output string, rows []T, table func(*tabwriter.Writer, []T)) error {
	if output == "json" {
		if rows == nil {
			rows = []T{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	table(tw, rows)
	return tw.Flush()
}

func printMonitors(w io.Writer, output string, mons []internet.Monitor) error {
	return printInternet(w, output, mons, func(tw *tabwriter.Writer, mons []internet.Monitor) {
		fmt.Fprintln(tw, "NAME\tPERIOD\tSCOPE\tTRAFFIC SHARE\tMAX CITY-NETWORKS\tTHRESHOLDS (OVERALL/LOCAL/MIN IMPACT)")
		for _, m := range mons {
			var scope []string
			for _, p := range []struct {
				k  string
				vs []string
			}{{"network", m.Networks}, {"subnet", m.Subnets}, {"host-group", m.HostGroups}} {
				for _, v := range p.vs {
					scope = append(scope, p.k+":"+v)
				}
			}
			if len(scope) == 0 {
				scope = []string{"all"}
			}
			maxCN := "-"
			if m.MaxCityNetworks > 0 {
				maxCN = strconv.Itoa(m.MaxCityNetworks)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%g%%\t%s\t%g%% / %g%% / %g%%\n", m.Name, m.Period(), strings.Join(scope, ","),
				m.TrafficShare, maxCN, m.OverallThreshold, m.LocalThreshold, m.MinTrafficImpact)
		}
	})
}

func asnText(n uint32) string {
	if n == 0 {
		return "-"
	}
	return "AS" + strconv.FormatUint(uint64(n), 10)
}

func place(l internet.Location) string {
	if l.City == "" && l.Country == "" {
		return "(unknown)"
	}
	return strings.TrimPrefix(l.City+", "+l.Country, ", ")
}

func measurementTable(tw *tabwriter.Writer, rows []internet.Measurement) {
	fmt.Fprintln(tw, "TIME\tLOCATION\tNETWORK\tBYTES IN\tBYTES OUT\tCONNS\tSHARE%\tRTT P50/P90/P95 MS\tRETRANS%\tFAILED%\tAVAIL\tPERF")
	for _, m := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%.2f\t%.1f/%.1f/%.1f\t%.2f\t%.2f\t%.1f\t%.1f\n", m.Time.Format("2006-01-02 15:04:05"),
			place(m.Location), m.Network(), m.BytesIn, m.BytesOut, m.ClientConnections, m.TrafficShare,
			m.RTTP50MS, m.RTTP90MS, m.RTTP95MS, m.RetransmissionRate, m.FailedConnectionRate, m.AvailabilityScore, m.PerformanceScore)
	}
}

func topLocationTable(tw *tabwriter.Writer, rows []internet.TopLocation) {
	fmt.Fprintln(tw, "LOCATION\tNETWORK\tAS NAME\tBYTES IN\tBYTES OUT\tSHARE%\tRTT P50/P90/P95 MS\tAVAIL\tPERF\tPERIODS")
	for _, l := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.2f\t%.1f/%.1f/%.1f\t%.1f\t%.1f\t%d\n", place(l.Location), l.Network(), l.ASName,
			l.BytesIn, l.BytesOut, l.TrafficShare, l.RTTP50MS, l.RTTP90MS, l.RTTP95MS, l.AvailabilityScore, l.PerformanceScore, l.Periods)
	}
}

func overallTable(tw *tabwriter.Writer, rows []internet.Overall) {
	fmt.Fprintln(tw, "TIME\tCITY-NETWORKS\tBYTES IN\tBYTES OUT\tRTT P50/P90/P95 MS\tAVAIL\tPERF")
	for _, o := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.1f/%.1f/%.1f\t%.2f\t%.2f\n", o.Time.Format("2006-01-02 15:04:05"), o.CityNetworks,
			o.BytesIn, o.BytesOut, o.RTTP50MS, o.RTTP90MS, o.RTTP95MS, o.AvailabilityScore, o.PerformanceScore)
	}
}

func eventTable(tw *tabwriter.Writer, rows []internet.Event) {
	fmt.Fprintln(tw, "STARTED\tENDED\tSTATUS\tTYPE\tSCORE (WORST)\tIMPACTED%\tLOCATIONS\tCAUSE")
	for _, e := range rows {
		ended := "-"
		if e.EndedAt != nil {
			ended = e.EndedAt.Format("15:04:05")
		}
		cause := e.Cause.Kind
		switch e.Cause.Kind {
		case internet.CauseASN:
			cause += " " + asnText(e.Cause.ASN)
			if e.Cause.ASName != "" {
				cause += " (" + e.Cause.ASName + ")"
			}
		case internet.CauseMetro:
			cause += " " + e.Cause.City + ", " + e.Cause.Country
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f (%.1f)\t%.2f\t%d\t%s\n", e.StartedAt.Format("2006-01-02 15:04:05"), ended, e.Status,
			e.Type, e.OverallScore, e.WorstScore, e.TrafficImpacted, len(e.ImpactedLocations), cause)
	}
}
