package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/applog"
	"github.com/flowlens/flowlens/flowlog"
)

// newLogsPutCmd is `flowlens logs put`: lines of any text into an
// application log group (CloudWatch Logs' PutLogEvents, one event a line).
func newLogsPutCmd(g *globals) *cobra.Command {
	var group, output string
	var jsonLines bool
	cmd := &cobra.Command{
		Use:   "put --group NAME [FILE|-]",
		Short: "Put lines of any text (application logs) into a log group, one event per line",
		Long: `Send FILE (or standard input, as "-" or nothing) to the server's log group NAME, one event
per line, as CloudWatch Logs keeps any log: @message is the line, @timestamp the line's own
"timestamp" (else "time") JSON field (RFC 3339, or Unix seconds or milliseconds) or else the
ingestion time, @ingestionTime when the server stored it. The fields of a JSON line are
discovered as Logs Insights does (nested keys joined with dots, array elements by index:
http.status, tags.0), so 'flowlens query' filters and groups by them; use parse for the
rest. Empty lines are skipped; a line longer than the server's --applog-max-line-bytes
(256 KiB), a timestamp more than 10 minutes ahead or, with --json, a line that is not a JSON
object is refused and listed with its number. The whole put is stored or nothing is.
Metric filters of the group see every event.`,
		Example: `  flowlens logs put --group app /var/log/app.jsonl
  journalctl -o cat -u nginx | flowlens logs put --group nginx
  flowlens query --group app --since 1h 'filter level = "ERROR" | stats count(*) by service'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("--output %q: want table or json", output)
			}
			if err := flowlog.CheckGroup(group); err != nil {
				return fmt.Errorf("--group: %w", err)
			}
			var body io.Reader = cmd.InOrStdin()
			name := "standard input"
			if len(args) == 1 && args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				body, name = f, args[0]
			}
			var sum applog.Summary
			if err := g.client().PutLogLines(cmd.Context(), group, jsonLines, body, &sum); err != nil {
				return fmt.Errorf("put %s: %w", name, err)
			}
			if output == "json" {
				return writeJSONOut(cmd.OutOrStdout(), sum)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s: %d events into %s, %d bad lines, %d ms\n", name, sum.Events, sum.Group, sum.BadLines, sum.DurationMs)
			for _, e := range sum.Errors {
				fmt.Fprintf(out, "  %s: %s\n", name, e.Error())
			}
			if sum.BadTimes > 0 {
				fmt.Fprintf(out, "  %d events had a timestamp field that is not a time: they carry the ingestion time\n", sum.BadTimes)
			}
			if sum.Capped > 0 {
				fmt.Fprintf(out, "  %d events have more than %d JSON fields\n", sum.Capped, applog.MaxFields)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&group, "group", "", "log group to put into (required)")
	cmd.Flags().BoolVar(&jsonLines, "json", false, "send as JSON lines (application/x-ndjson): refuse lines that are not a JSON object")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	cmd.MarkFlagRequired("group")
	return cmd
}
