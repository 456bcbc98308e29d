package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/apiclient"
	"github.com/flowlens/flowlens/insights"
	"github.com/flowlens/flowlens/logquery"
)

type queryFlags struct {
	groups     []string
	since      string
	start, end string
	output     string
}

func newQueryCmd(g *globals) *cobra.Command {
	var f queryFlags
	cmd := &cobra.Command{
		Use:   "query [flags] 'QUERY'",
		Short: "Query flow logs or the agents' flows with the Logs Insights language",
		Long: `Run a CloudWatch Logs Insights query over the flow-log records of one or more
log groups (--group, repeatable), or over the agents' flows (--group ` + logquery.FlowsGroup + `).

Commands are joined by "|": fields, display, filter, stats (count, count_distinct,
sum, avg, min, max, pct, stddev, earliest, latest, by fields and bin(5m)), sort,
limit (default 1000, at most 10000), parse (glob or regex with named groups),
dedup. Field names: srcAddr, dstAddr, srcPort, dstPort, protocol, packets, bytes,
start, end, action, logStatus, interfaceId, accountId, ... and @timestamp (the
record's start), @message, @logStream, @log. See ARCHITECTURE.md, "Log queries".

The time range is --since (default 1h) or --start/--end (RFC 3339 or Unix seconds).
--output json prints an array of objects keyed by the result names (the alias,
else the expression as written, e.g. "count(*)"); table prints the statistics
(records scanned and matched, bytes scanned, time) after the rows.`,
		Example: `  flowlens query --group vpc-prod --since 24h 'filter action="REJECT" | stats count(*) as n by srcAddr | sort n desc | limit 20'
  flowlens query --group vpc-prod --start 2026-11-01T00:00:00Z --end 1793577600 -o json 'filter dstPort = 22 | fields @timestamp, srcAddr'
  flowlens query --group flowlens/flows 'stats sum(retransmissions) as r by localZone, remoteZone | sort r desc'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(f.output); err != nil {
				return err
			}
			if _, err := logquery.Parse(args[0]); err != nil { // fail fast, before the network
				return queryError(args[0], err)
			}
			since := f.since
			if since == "" && f.start == "" {
				since = "1h"
			}
			start, end, err := insights.TimeRange(since, f.start, f.end, time.Now())
			if err != nil {
				return err
			}
			if len(f.groups) == 0 {
				return fmt.Errorf("give --group NAME (repeatable), or --group %s for the agents' flows", logquery.FlowsGroup)
			}
			res, err := g.client().Query(cmd.Context(), apiclient.QueryRequest{Query: args[0], LogGroups: f.groups,
				Start: start.Unix(), End: end.Unix()})
			var qe *apiclient.QueryError
			if errors.As(err, &qe) && qe.Line > 0 {
				return queryError(args[0], &logquery.Error{Line: qe.Line, Column: qe.Column, Msg: qe.Message})
			}
			if err != nil {
				return err
			}
			return printQueryResult(os.Stdout, f.output, res)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.groups, "group", "g", nil, "log group to query (repeatable, up to 50)")
	fl.StringVar(&f.since, "since", "", "look back this long, e.g. 15m, 6h, 7d (default 1h)")
	fl.StringVar(&f.start, "start", "", "range start: RFC 3339 or Unix seconds")
	fl.StringVar(&f.end, "end", "", "range end: RFC 3339 or Unix seconds (default now)")
	fl.StringVarP(&f.output, "output", "o", "table", "table, json or csv")
	return cmd
}

// queryError shows the query line with a caret under the column.
func queryError(query string, err error) error {
	var qe *logquery.Error
	if !errors.As(err, &qe) {
		return err
	}
	msg := qe.Msg
	if i := strings.Index(msg, "line "); i == 0 {
		msg = msg[strings.Index(msg, ": ")+2:]
	}
	lines := strings.Split(query, "\n")
	if qe.Line < 1 || qe.Line > len(lines) {
		return fmt.Errorf("query: line %d, column %d: %s", qe.Line, qe.Column, msg)
	}
	line := lines[qe.Line-1]
	pad := strings.Repeat(" ", max(0, qe.Column-1))
	return fmt.Errorf("query: line %d, column %d: %s\n  %s\n  %s^", qe.Line, qe.Column, msg, line, pad)
}

// printQueryResult writes rows as a table (then the statistics), a JSON
// array of objects in column order, or CSV.
func printQueryResult(w io.Writer, output string, res *apiclient.QueryResult) error {
	switch output {
	case "json":
		var b bytes.Buffer
		b.WriteString("[")
		for i, row := range res.Rows {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("\n  {")
			for j, col := range res.Columns {
				if j > 0 {
					b.WriteString(", ")
				}
				k, _ := json.Marshal(col)
				v, err := json.Marshal(cellValue(row, j))
				if err != nil {
					return err
				}
				b.Write(k)
				b.WriteString(": ")
				b.Write(v)
			}
			b.WriteString("}")
		}
		if len(res.Rows) > 0 {
			b.WriteString("\n")
		}
		b.WriteString("]\n")
		_, err := w.Write(b.Bytes())
		return err
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write(res.Columns)
		for _, row := range res.Rows {
			rec := make([]string, len(res.Columns))
			for j := range rec {
				rec[j] = cellText(cellValue(row, j), "")
			}
			cw.Write(rec)
		}
		cw.Flush()
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(res.Rows) > 0 {
		fmt.Fprintln(tw, strings.Join(res.Columns, "\t"))
		for _, row := range res.Rows {
			cells := make([]string, len(res.Columns))
			for j := range cells {
				cells[j] = strings.NewReplacer("\t", " ", "\n", " ").Replace(cellText(cellValue(row, j), "-"))
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
	} else {
		fmt.Fprintln(tw, "no records matched")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	s := res.Statistics
	_, err := fmt.Fprintf(w, "\n%d rows; %d records scanned, %d matched, %s scanned, %.1f ms\n",
		len(res.Rows), s.RecordsScanned, s.RecordsMatched, humanBytes(s.BytesScanned), s.ElapsedMs)
	return err
}

func cellValue(row []any, j int) any {
	if j < len(row) {
		return row[j]
	}
	return nil
}

func cellText(v any, null string) string {
	switch x := v.(type) {
	case nil:
		return null
	case string:
		return x
	case json.Number:
		return x.String()
	}
	return fmt.Sprint(v)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
