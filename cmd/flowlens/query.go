package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/apiclient"
	"github.com/flowlens/flowlens/flowlog"
	"github.com/flowlens/flowlens/flowlog/source"
	"github.com/flowlens/flowlens/insights"
	"github.com/flowlens/flowlens/logquery"
	"github.com/flowlens/flowlens/store/duckdb"
	"github.com/flowlens/flowlens/store/duckdb/flowlogs"
)

type queryFlags struct {
	groups     []string
	since      string
	start, end string
	output     string
	files      []string
	format     string
}

func newQueryCmd(g *globals) *cobra.Command {
	var f queryFlags
	cmd := &cobra.Command{
		Use:   "query [--group NAME | --files PATH...] [flags] 'QUERY'",
		Short: "Query flow logs or the agents' flows with the Logs Insights language",
		Long: `Run a CloudWatch Logs Insights query over the flow-log records of one or more
log groups (--group, repeatable), or over the agents' flows (--group ` + logquery.FlowsGroup + `),
or both in one query. A query may start with SOURCE logGroups(namePrefix: ['vpc-'])
to add every group whose name starts with a prefix (up to 5; logGroups() for all).

Commands are joined by "|": fields, display, filter (or filterIndex), stats
(count, count_distinct, sum, avg, min, max, pct, stddev, earliest, latest, by
fields and bin(5m)), sort, limit (default 10000, at most 100000, as in Logs
Insights), parse (glob or regex with named groups), dedup, pattern EXPR
(@pattern, @ratio, @sampleCount, @severityLabel: numbers, ids, addresses and
times become <*>), diff [previousDay|previousWeek|previousMonth] (pattern
counts against the previous period of equal length), unnest LIST into NAME
(a record per element); jsonParse(@message) as j makes a map or list, read
with j.key, j.list[0].key, j.` + "`" + `key.with.dots` + "`" + `; jsonStringify(j) writes it back. A field the groups
do not have is empty (null) for every record, with a warning. Field names: srcAddr, dstAddr, srcPort, dstPort, protocol, packets, bytes,
start, end, action, logStatus, interfaceId, accountId, ... and @timestamp (the
record's start), @message, @logStream, @log. See ARCHITECTURE.md, "Log queries".

The time range is --since (default 1h) or --start/--end (RFC 3339 or Unix seconds).
--output json prints an array of objects keyed by the result names (the alias,
else the expression as written, e.g. "count(*)"); table prints the statistics
(records scanned and matched, bytes scanned, time) after the rows.

--files runs without a server: the files are imported into a temporary
DuckDB store (deleted afterwards) and queried there; bad lines are reported
on stderr and skipped.`,
		Example: `  flowlens query --files ./flowlogs/ more.log.gz 'filter action="REJECT" | stats count(*) as n by srcAddr | sort n desc | limit 20'
  flowlens query --group vpc-prod --since 24h 'filter action="REJECT" | stats count(*) as n by srcAddr | sort n desc | limit 20'
  flowlens query --group vpc-prod --start 2026-11-01T00:00:00Z --end 1793577600 -o json 'filter dstPort = 22 | fields @timestamp, srcAddr'
  flowlens query --group flowlens/flows 'stats sum(retransmissions) as r by localZone, remoteZone | sort r desc'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The query is the last argument; with --files, the ones before
			// it are more paths (flowlens query --files a.log b.log 'QUERY').
			if extra := args[:len(args)-1]; len(extra) > 0 {
				if len(f.files) == 0 {
					return fmt.Errorf("one QUERY argument expected, found %d (quote the query)", len(args))
				}
				f.files = append(f.files, extra...)
				args = args[len(args)-1:]
			}
			if err := checkOutput(f.output); err != nil {
				return err
			}
			if _, err := logquery.Parse(args[0]); err != nil { // fail fast, before the network
				return queryError(args[0], err)
			}
			since := f.since
			if since == "" && f.start == "" && len(f.files) == 0 {
				since = "1h"
			}
			start, end, err := insights.TimeRange(since, f.start, f.end, time.Now())
			if err != nil {
				return err
			}
			if len(f.files) > 0 {
				if f.since == "" && f.start == "" {
					start = time.Unix(0, 0) // files: every record unless told otherwise
				}
				res, err := queryFiles(cmd.Context(), f, args[0], start, end)
				if err != nil {
					return queryError(args[0], err)
				}
				return printQueryResult(cmd.OutOrStdout(), f.output, res)
			}
			if len(f.groups) == 0 && !startsWithSource(args[0]) {
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
			return printQueryResult(cmd.OutOrStdout(), f.output, res)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.groups, "group", "g", nil, "log group to query (repeatable, up to 50)")
	fl.StringVar(&f.since, "since", "", "look back this long, e.g. 15m, 6h, 7d (default 1h)")
	fl.StringVar(&f.start, "start", "", "range start: RFC 3339 or Unix seconds")
	fl.StringVar(&f.end, "end", "", "range end: RFC 3339 or Unix seconds (default now)")
	fl.StringVarP(&f.output, "output", "o", "table", "table, json or csv")
	fl.StringArrayVar(&f.files, "files", nil, "query these flow-log files or directories (.log, .gz, .parquet, s3://) directly, without a server (repeatable; the time range then defaults to every record)")
	fl.StringVar(&f.format, "format", "", "with --files: the records' format as ${field} tokens (default: each file's header line, else the default format)")
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
	for _, warning := range res.Warnings {
		if err == nil {
			_, err = fmt.Fprintf(w, "warning: %s\n", warning)
		}
	}
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

// queryFiles imports files into a temporary store and queries them there.
func queryFiles(ctx context.Context, f queryFlags, query string, start, end time.Time) (*apiclient.QueryResult, error) {
	if len(f.groups) > 0 {
		return nil, errors.New("give --files or --group, not both")
	}
	dir, err := os.MkdirTemp("", "flowlens-query-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := duckdb.Open(duckdb.Config{Path: filepath.Join(dir, "query.duckdb")}, quiet)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var opts source.ImportOptions
	if f.format != "" {
		if opts.Format, err = flowlog.ParseFormat(f.format); err != nil {
			return nil, fmt.Errorf("--format: %w", err)
		}
	}
	const group = "files"
	records, err := flowlogs.Open(ctx, st, flowlogs.Config{}, quiet)
	if err != nil {
		return nil, err
	}
	sum, err := source.ImportFiles(ctx, records, group, f.files, opts, source.SourceOptions{})
	if err != nil {
		return nil, err
	}
	for _, fs := range sum.Files {
		if fs.Error != "" {
			fmt.Fprintf(os.Stderr, "flowlens: %s: %s\n", fs.Source, fs.Error)
		}
		for _, w := range fs.Warnings {
			fmt.Fprintf(os.Stderr, "flowlens: %s: warning: %s\n", fs.Source, w)
		}
		for _, le := range fs.Errors {
			fmt.Fprintf(os.Stderr, "flowlens: %v\n", le)
		}
	}
	if sum.BadLines > 0 {
		fmt.Fprintf(os.Stderr, "flowlens: %d bad lines skipped, %d records imported\n", sum.BadLines, sum.Records)
	}
	if f.end == "" {
		// Every record: those without a time of their own were stamped
		// with their ingestion time, just now.
		end = time.Now()
	}
	res, err := logquery.NewEngine(st.DB(), logSources()).Run(ctx, logquery.Request{Query: query, Groups: []string{group}, Start: start, End: end})
	if err != nil {
		return nil, err
	}
	// The same shape as the server's answer, numbers as json.Number.
	b, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	var out apiclient.QueryResult
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return &out, dec.Decode(&out)
}

// startsWithSource: the query names its groups with SOURCE (the server
// checks the rest).
func startsWithSource(query string) bool {
	q, err := logquery.Parse(query)
	return err == nil && q.Source != nil
}
