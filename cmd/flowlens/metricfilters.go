package main

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/metricfilter"
)

func newMetricFiltersCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "metric-filters",
		Short: "Turn log records into metrics: create, list, delete, test",
		Long: `A metric filter watches the records ingested into one log group. Each record
that matches its pattern adds a value (1, or a field such as $bytes) to a one-minute
metric point in namespace FlowLens/Logs (or --metric-namespace), optionally split by up
to 3 dimensions taken from fields. Alarms then watch those metrics.

Pattern syntax (CloudWatch's):
  ERROR "exact phrase"       every term must occur (case-sensitive)
  ?ERROR ?WARN               at least one of the ? terms (ignored beside other terms)
  ERROR -debug               excludes records with "debug"
  [a, b=x*, c!=3, n>1000, ...]
                             space-delimited fields, named in order; ... is any
                             number of fields; * is a wildcard; < <= > >= compare
                             numbers; a=1 || a=2 and a>1 && a!=3 on one field
  [ip, ..., status=4* && bytes>1000]
                             a condition naming new fields spans them (here the
                             last two); unnamed positions are $1..$N
  [..., status=4*,]          a trailing comma is one more unnamed field
  []                         matches every record
  { $.x = "a*" && ($.n > 5 || $.y IS NULL) && $.z NOT EXISTS }
                             JSON records (also IS TRUE, IS FALSE)
  %ERROR [0-9]+%   [ip=%^10\.%, ...]   { $.m = %Trail$% }
                             regular expressions between % signs, as CloudWatch
                             allows them: letters, digits, space, : _ # = @ / ; , -
                             and ^ $ ? [ ] { } | \ * + . (no parentheses; \d \s \w
                             \xhh); at most 2 in a [...] or {...} pattern, and 5
                             filters with one per log group`,
	}
	cmd.AddCommand(newMFCreateCmd(g), newMFListCmd(g), newMFDeleteCmd(g), newMFTestCmd(g))
	return cmd
}

// mfFlags are the value, default and dimension flags of create and test.
type mfFlags struct {
	value, defaultValue string
	dims                []string
}

func (m *mfFlags) register(cmd *cobra.Command, valueFlag string) {
	f := cmd.Flags()
	f.StringVar(&m.value, valueFlag, "1", "metric value: a number, $field (space-delimited) or $.selector (JSON)")
	f.StringVar(&m.defaultValue, "default-value", "", "value counted for each record that does not match (none by default)")
	f.StringArrayVar(&m.dims, "dimension", nil, "dimension NAME=$field (repeat, at most 3)")
}

func (m *mfFlags) parse() (def *float64, dims map[string]string, err error) {
	if m.defaultValue != "" {
		v, err := strconv.ParseFloat(m.defaultValue, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("--default-value %q: want a number", m.defaultValue)
		}
		def = &v
	}
	for _, d := range m.dims {
		k, v, ok := strings.Cut(d, "=")
		if !ok || k == "" || v == "" {
			return nil, nil, fmt.Errorf("--dimension %q: want NAME=$field", d)
		}
		if dims == nil {
			dims = map[string]string{}
		}
		dims[k] = v
	}
	return def, dims, nil
}

func mfCheckOutput(o string) error {
	if o != "table" && o != "json" {
		return fmt.Errorf("--output %q: want table or json", o)
	}
	return nil
}

func newMFCreateCmd(g *globals) *cobra.Command {
	var f metricfilter.Filter
	var vals mfFlags
	var output string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create or replace a metric filter on a log group",
		Example: `  flowlens metric-filters create ssh-rejects --group vpc-flows --metric-name ssh_rejects \
      --pattern '[version, account, eni, source, destination, srcport, destport="22", protocol="6", packets, bytes, windowstart, windowend, action="REJECT", flowlogstatus]'
  flowlens metric-filters create rejected-bytes --group vpc-flows --metric-name rejected_bytes \
      --pattern '[..., bytes, start, end, action=REJECT, status]' --metric-value '$bytes'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := mfCheckOutput(output); err != nil {
				return err
			}
			var err error
			f.Name, f.MetricValue = args[0], vals.value
			if f.DefaultValue, f.Dimensions, err = vals.parse(); err != nil {
				return err
			}
			if _, err := metricfilter.Compile(f); err != nil { // fail fast, with the column
				return err
			}
			var out metricfilter.Filter
			if err := g.client().CreateMetricFilter(cmd.Context(), f, &out); err != nil {
				return err
			}
			return printMetricFilters(cmd.OutOrStdout(), output, []metricfilter.Filter{out})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Group, "group", "", "log group the filter watches (required)")
	fl.StringVar(&f.Pattern, "pattern", "", "filter pattern (empty matches every record)")
	fl.StringVar(&f.MetricName, "metric-name", "", "metric to publish (required)")
	fl.StringVar(&f.MetricNamespace, "metric-namespace", metricfilter.DefaultNamespace, "metric namespace")
	fl.StringVar(&f.Unit, "unit", "", "the metric's unit, one of CloudWatch's: "+strings.Join(metricfilter.Units, ", ")+" (default None)")
	vals.register(cmd, "metric-value")
	fl.StringVarP(&output, "output", "o", "table", "table or json")
	cmd.MarkFlagRequired("group")
	cmd.MarkFlagRequired("metric-name")
	return cmd
}

func newMFListCmd(g *globals) *cobra.Command {
	var group, output string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List metric filters",
		Example: "  flowlens metric-filters list --group vpc-flows -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := mfCheckOutput(output); err != nil {
				return err
			}
			var resp metricfilter.ListResponse
			if err := g.client().ListMetricFilters(cmd.Context(), group, &resp); err != nil {
				return err
			}
			return printMetricFilters(cmd.OutOrStdout(), output, resp.Filters)
		},
	}
	cmd.Flags().StringVar(&group, "group", "", "only this log group")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func newMFDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "delete GROUP NAME",
		Short:   "Delete a metric filter (points already published stay)",
		Example: "  flowlens metric-filters delete vpc-flows ssh-rejects",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.client().DeleteMetricFilter(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %s/%s\n", args[0], args[1])
			return nil
		},
	}
}

func newMFTestCmd(g *globals) *cobra.Command {
	var pattern, output string
	var vals mfFlags
	var remote bool
	cmd := &cobra.Command{
		Use:   "test --pattern PATTERN [FILE...]",
		Short: "Show which sample lines a pattern matches and the values they yield",
		Long: `Run a pattern (with a metric value, default value and dimensions) over sample
lines from FILEs (.gz read as gzip) or standard input ("-" or no FILE). It runs locally, without a
server; --remote asks the server instead. Matching lines show their value, dimensions
and, for space-delimited patterns, the named fields.`,
		Example: `  flowlens metric-filters test --value '$bytes' --pattern \
      '[version, account, eni, source, destination, srcport, destport="22", protocol="6", packets, bytes, windowstart, windowend, action="REJECT", flowlogstatus]' \
      flowlogs.log
  zcat flows.log.gz | flowlens metric-filters test --pattern 'REJECT' -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := mfCheckOutput(output); err != nil {
				return err
			}
			def, dims, err := vals.parse()
			if err != nil {
				return err
			}
			lines, err := mfReadLines(cmd.InOrStdin(), args)
			if err != nil {
				return err
			}
			req := metricfilter.TestRequest{Pattern: pattern, MetricValue: vals.value, DefaultValue: def, Dimensions: dims, Lines: lines}
			var resp metricfilter.TestResponse
			if remote {
				err = g.client().TestMetricFilter(cmd.Context(), req, &resp)
			} else {
				resp, err = metricfilter.RunTest(req)
			}
			if err != nil {
				return err
			}
			return printMFTest(cmd.OutOrStdout(), output, resp)
		},
	}
	cmd.Flags().StringVar(&pattern, "pattern", "", "filter pattern")
	vals.register(cmd, "value")
	cmd.Flags().BoolVar(&remote, "remote", false, "run the test on the server")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

// mfReadLines reads every line of the files (stdin for none or "-").
func mfReadLines(stdin io.Reader, files []string) ([]string, error) {
	if len(files) == 0 {
		files = []string{"-"}
	}
	var lines []string
	for _, name := range files {
		var r io.Reader = stdin
		if name != "-" {
			f, err := os.Open(name)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			r = f
			if strings.HasSuffix(name, ".gz") {
				zr, err := gzip.NewReader(f)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
				defer zr.Close()
				r = zr
			}
		}
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if len(lines) > metricfilter.MaxTestLines {
				return nil, fmt.Errorf("%s: more than %d lines; test a sample", name, metricfilter.MaxTestLines)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
	}
	return lines, nil
}

func printMetricFilters(w io.Writer, output string, fs []metricfilter.Filter) error {
	if output == "json" {
		if fs == nil {
			fs = []metricfilter.Filter{}
		}
		return alarmJSON(w, fs)
	}
	if len(fs) == 0 {
		fmt.Fprintln(w, "no metric filters")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tNAME\tMETRIC\tVALUE\tUNIT\tDIMENSIONS\tPATTERN")
	for _, f := range fs {
		dims := mfDims(f.Dimensions)
		if f.DefaultValue != nil {
			dims += " (default " + strconv.FormatFloat(*f.DefaultValue, 'g', -1, 64) + ")"
		}
		unit := f.Unit
		if unit == "" {
			unit = metricfilter.UnitNone
		}
		fmt.Fprintf(tw, "%s\t%s\t%s/%s\t%s\t%s\t%s\t%s\n", f.Group, f.Name, f.MetricNamespace, f.MetricName, f.MetricValue, unit, dims, f.Pattern)
	}
	return tw.Flush()
}

func mfDims(d map[string]string) string {
	if len(d) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(d))
	for k, v := range d {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func printMFTest(w io.Writer, output string, resp metricfilter.TestResponse) error {
	if output == "json" {
		return alarmJSON(w, resp)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LINE\tMATCH\tVALUE\tDIMENSIONS\tRECORD")
	for _, r := range resp.Results {
		match, val := "no", "-"
		if r.Matched {
			match = "yes"
		}
		if r.Value != nil {
			val = strconv.FormatFloat(*r.Value, 'g', -1, 64)
		}
		if r.Error != "" {
			val = "not counted: no usable value"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", r.Line, match, val, mfDims(r.Dimensions), r.Message)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d of %d lines matched\n", resp.Matched, resp.Total)
	return nil
}
