package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/alarm"
)

func newAlarmsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alarms",
		Short: "Alarms on metrics: create, list, get, history, delete",
		Long: `Alarms watch one metric series (namespace, metric, dimensions) the way CloudWatch
alarms do: a statistic per period, M datapoints out of the last N periods compared
with a threshold, a missing-data treatment, and the states OK, ALARM and
INSUFFICIENT_DATA. On every state transition an alarm POSTs JSON to its webhooks;
while in ALARM it keeps an alert firing in Prometheus Alertmanager, and resolves it
when it leaves ALARM.

Series come from monitors (namespace FlowLens/Monitors, dimension monitor=NAME),
metric filters (FlowLens/Logs by default) and the internet monitor (FlowLens/Internet).`,
	}
	cmd.AddCommand(newAlarmsCreateCmd(g), newAlarmsListCmd(g), newAlarmsGetCmd(g), newAlarmsHistoryCmd(g), newAlarmsDeleteCmd(g))
	return cmd
}

func alarmCheckOutput(o string) error {
	if o != "table" && o != "json" {
		return fmt.Errorf("--output %q: want table or json", o)
	}
	return nil
}

func newAlarmsCreateCmd(g *globals) *cobra.Command {
	var (
		def                        alarm.Definition
		period                     time.Duration
		dims, webhooks, alertmgrs  []string
		statistic, comparison, tmd string
		replace                    bool
		output                     string
	)
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an alarm (or replace it with --replace)",
		Long: `Create an alarm. NAME is 1-255 characters of a-z, A-Z, 0-9, '_', '.' and '-'.

The statistic (average, sum, minimum, maximum, sample-count) is computed for each
--period from the points whose time falls in it. The alarm goes to ALARM when at
least --datapoints-to-alarm (M) of the last --evaluation-periods (N) periods breach
the threshold; they need not be consecutive. --treat-missing-data decides what a
period without data means. As in CloudWatch, the alarm judges the most recent N
periods that have data among the last N+2; only when fewer than N have data does the
treatment matter:
  missing       none -> INSUFFICIENT_DATA; otherwise only the periods with data are
                judged (ALARM when min(M, periods with data) of them breach)
  notBreaching  a missing period counts as within the threshold
  breaching     a missing period counts as breaching
  ignore        none keeps the current state; too few points to decide too

--replace updates an existing alarm (its state is kept) or creates it.`,
		Example: `  flowlens alarms create web-degraded --namespace FlowLens/Monitors --metric health_indicator \
      --dimension monitor=web --statistic maximum --period 10s --evaluation-periods 3 \
      --datapoints-to-alarm 1 --comparison '>=' --threshold 1 --treat-missing-data missing \
      --webhook http://127.0.0.1:9000/hook --alertmanager http://127.0.0.1:9093
  flowlens alarms create ssh-rejects --namespace FlowLens/Logs --metric ssh_rejects \
      --statistic sum --period 1m --comparison '>' --threshold 100 --treat-missing-data notBreaching`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := alarmCheckOutput(output); err != nil {
				return err
			}
			def.Name = args[0]
			def.Period = alarm.Duration(period)
			def.Statistic, def.Comparison, def.TreatMissingData = alarm.Statistic(statistic), alarm.Comparison(comparison), alarm.TreatMissing(tmd)
			def.Webhooks, def.Alertmanagers = webhooks, alertmgrs
			var err error
			if def.Dimensions, err = alarmParseDimensions(dims); err != nil {
				return err
			}
			if err := def.Normalize(); err != nil { // fail fast, naming the flag's field
				return err
			}
			var st alarm.Status
			if replace {
				err = g.client().PutAlarm(cmd.Context(), def.Name, def, &st)
			} else {
				err = g.client().CreateAlarm(cmd.Context(), def, &st)
			}
			if err != nil {
				return err
			}
			return printAlarmStatus(cmd.OutOrStdout(), output, st)
		},
	}
	f := cmd.Flags()
	f.StringVar(&def.Namespace, "namespace", "", "metric namespace, e.g. FlowLens/Monitors (required)")
	f.StringVar(&def.Metric, "metric", "", "metric name, e.g. health_indicator (required)")
	f.StringArrayVar(&dims, "dimension", nil, "dimension NAME=VALUE of the series (repeat for several)")
	f.StringVar(&statistic, "statistic", "average", "average, sum, minimum, maximum or sample-count")
	f.DurationVar(&period, "period", time.Minute, "length of one evaluation period (whole seconds)")
	f.IntVar(&def.EvaluationPeriods, "evaluation-periods", 1, "N: how many recent periods are judged")
	f.IntVar(&def.DatapointsToAlarm, "datapoints-to-alarm", 0, "M: breaching periods among N that trigger ALARM (default N)")
	f.StringVar(&comparison, "comparison", ">=", "'>=', '>', '<' or '<='")
	f.Float64Var(&def.Threshold, "threshold", 0, "the threshold the statistic is compared with")
	f.StringVar(&tmd, "treat-missing-data", "missing", "missing, notBreaching, breaching or ignore")
	f.StringVar(&def.Severity, "severity", "warning", "severity label of the Alertmanager alert")
	f.StringVar(&def.Description, "description", "", "free text shown with the alarm")
	f.StringArrayVar(&webhooks, "webhook", nil, "URL to POST state transitions to (repeatable)")
	f.StringArrayVar(&alertmgrs, "alertmanager", nil, "Alertmanager base URL, e.g. http://127.0.0.1:9093 (repeatable)")
	f.BoolVar(&replace, "replace", false, "replace the alarm if it exists (keeps its state)")
	f.StringVarP(&output, "output", "o", "table", "table or json")
	cmd.MarkFlagRequired("namespace")
	cmd.MarkFlagRequired("metric")
	return cmd
}

// alarmParseDimensions reads repeated NAME=VALUE flags.
func alarmParseDimensions(list []string) (map[string]string, error) {
	if len(list) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, d := range list {
		k, v, ok := strings.Cut(d, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("--dimension %q: want NAME=VALUE", d)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("--dimension %q: %s given twice", d, k)
		}
		out[k] = v
	}
	return out, nil
}

func newAlarmsListCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List alarms with their state",
		Long:    "List every alarm with its state and condition. JSON output is an array of alarm objects (as 'get').",
		Example: "  flowlens alarms list\n  flowlens alarms list -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := alarmCheckOutput(output); err != nil {
				return err
			}
			var resp alarm.ListResponse
			if err := g.client().ListAlarms(cmd.Context(), &resp); err != nil {
				return err
			}
			return printAlarmList(cmd.OutOrStdout(), output, resp.Alarms)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func newAlarmsGetCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Show one alarm: definition, state, reason, last datapoints, notifications",
		Long: `Show one alarm. JSON output is one object: the definition's fields plus "state",
"state_reason", "state_updated", "last_evaluated", "datapoints" (time, value or null)
and "notifications" (sent, failed, last_error).`,
		Example: "  flowlens alarms get web-degraded\n  flowlens alarms get web-degraded -o json | jq -r .state",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := alarmCheckOutput(output); err != nil {
				return err
			}
			var st alarm.Status
			if err := g.client().GetAlarm(cmd.Context(), args[0], &st); err != nil {
				return err
			}
			return printAlarmStatus(cmd.OutOrStdout(), output, st)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func newAlarmsHistoryCmd(g *globals) *cobra.Command {
	var output string
	var limit int
	cmd := &cobra.Command{
		Use:     "history NAME",
		Short:   "An alarm's state transitions and changes, newest first",
		Example: "  flowlens alarms history web-degraded --limit 20",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := alarmCheckOutput(output); err != nil {
				return err
			}
			var resp alarm.HistoryResponse
			if err := g.client().AlarmHistory(cmd.Context(), args[0], limit, &resp); err != nil {
				return err
			}
			return printAlarmHistory(cmd.OutOrStdout(), output, resp.History)
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 100, "newest items to show, 1-10000")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func newAlarmsDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME...",
		Short:   "Delete alarms and their history (a firing alert is resolved)",
		Example: "  flowlens alarms delete web-degraded",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, name := range args {
				if err := g.client().DeleteAlarm(cmd.Context(), name); err != nil {
					return fmt.Errorf("delete %s: %w", name, err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), "deleted", name)
			}
			return nil
		},
	}
}

// alarmCondition is "maximum(health_indicator{monitor=web}) >= 1, 1 of 3 x 10s".
func alarmCondition(d *alarm.Definition) string {
	series := d.Namespace + "/" + d.Metric
	if len(d.Dimensions) > 0 {
		series += "{" + alarm.DimensionText(d.Dimensions) + "}"
	}
	return fmt.Sprintf("%s(%s) %s %s, %d of %d x %s, missing=%s", d.Statistic, series, d.Comparison,
		strconv.FormatFloat(d.Threshold, 'g', -1, 64), d.DatapointsToAlarm, d.EvaluationPeriods, time.Duration(d.Period), d.TreatMissingData)
}

func printAlarmList(w io.Writer, output string, list []alarm.Status) error {
	if output == "json" {
		if list == nil {
			list = []alarm.Status{}
		}
		return alarmJSON(w, list)
	}
	if len(list) == 0 {
		fmt.Fprintln(w, "no alarms")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tSINCE\tCONDITION")
	for i := range list {
		s := &list[i]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.State, s.StateUpdated.UTC().Format(time.RFC3339), alarmCondition(&s.Definition))
	}
	return tw.Flush()
}

func printAlarmStatus(w io.Writer, output string, s alarm.Status) error {
	if output == "json" {
		return alarmJSON(w, s)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("name", s.Name)
	if s.Description != "" {
		row("description", s.Description)
	}
	row("state", string(s.State))
	row("since", s.StateUpdated.UTC().Format(time.RFC3339))
	row("reason", s.StateReason)
	row("condition", alarmCondition(&s.Definition))
	if !s.LastEvaluated.IsZero() {
		row("last evaluated", s.LastEvaluated.UTC().Format(time.RFC3339))
	}
	var dps []string
	for _, p := range s.Datapoints {
		v := "-"
		if p.Value != nil {
			v = strconv.FormatFloat(*p.Value, 'g', -1, 64)
		}
		dps = append(dps, p.Time.UTC().Format("15:04:05")+"="+v)
	}
	if len(dps) > 0 {
		row("datapoints", strings.Join(dps, " "))
	}
	for _, u := range s.Webhooks {
		row("webhook", u)
	}
	for _, u := range s.Alertmanagers {
		row("alertmanager", u)
	}
	n := s.Notifications
	row("notifications", fmt.Sprintf("%d sent, %d failed", n.Sent, n.Failed))
	if n.LastError != "" {
		row("last failure", n.LastErrAt.UTC().Format(time.RFC3339)+" "+n.LastError)
	}
	return tw.Flush()
}

func printAlarmHistory(w io.Writer, output string, h []alarm.HistoryItem) error {
	if output == "json" {
		if h == nil {
			h = []alarm.HistoryItem{}
		}
		return alarmJSON(w, h)
	}
	if len(h) == 0 {
		fmt.Fprintln(w, "no history")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tKIND\tOLD\tNEW\tREASON")
	for _, it := range h {
		old := string(it.OldState)
		if old == "" {
			old = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", it.Time.UTC().Format(time.RFC3339), it.Kind, old, it.NewState, it.Reason)
	}
	return tw.Flush()
}

// alarmJSON prints v as indented JSON without HTML escaping (so that
// operators such as ">=" and patterns stay readable).
func alarmJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
