package applogs

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/flowlens/flowlens/logquery/logsource"
)

// LogSource provides the application log groups to the log query
// language; it lists its groups, so the engine sends it the groups it
// holds (logquery.Sources.AddListedGroups).
func LogSource() Source { return Source{} }

// Source is the applog_events table as a log source.
type Source struct{}

// LogSource describes the table: the system fields, and every other name
// a query uses read from the event's discovered fields (missing, i.e.
// NULL, for events without it, as in Logs Insights).
func (Source) LogSource(context.Context, *sql.Tx) (*logsource.Source, error) {
	return eventsSource, nil
}

// LogGroups lists the application log groups.
func (Source) LogGroups(ctx context.Context, tx *sql.Tx) ([]string, error) {
	// A database without the application-log tables (flowlens query
	// --files) has no application groups.
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM duckdb_tables() WHERE table_name = 'applog_groups'`).Scan(&n); err != nil {
		return nil, fmt.Errorf("list application log groups: %w", err)
	}
	if n == 0 {
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT name FROM applog_groups ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("list application log groups: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return nil, fmt.Errorf("list application log groups: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// fieldWidth is the estimated size of a discovered field's value.
const fieldWidth = 12

var eventsSource = &logsource.Source{
	Name:  "applog_events",
	Table: `"applog_events" AS "e" JOIN "applog_groups" AS "g" ON "g"."id" = "e"."group_id"`,
	Fields: []logsource.Field{
		{Name: "@timestamp", SQL: `"e"."event_time"`, Kind: logsource.KindTime, Width: 8},
		{Name: "@ingestionTime", SQL: `"e"."ingestion_time"`, Kind: logsource.KindTime, Width: 8},
		{Name: "@message", SQL: `"e"."message"`, Width: 120},
		{Name: "@log", SQL: `"g"."name"`, Width: 16},
	},
	TimeSQL: `"e"."event_time"`, TimeUnit: 1000, TimeCols: []string{"event_time"},
	GroupSQL: `"g"."name"`, GroupWidth: 4,
	Default: []string{"@timestamp", "@message"},
	Dynamic: discoveredField,
}

// maxPaths bounds the JSON paths one dotted name is tried as.
const maxPaths = 16

// discoveredField reads name from a JSON event's @message, as Logs
// Insights discovers it: nested keys joined by dots, array elements by
// index. A dotted name is tried as each path it can stand for (a key may
// hold a dot itself, "EC2.InstanceId"; a number may be an index or a
// key), most nested first, the first present wins. The paths travel as
// bound values, never as SQL; names with a quote or backslash and the
// system (@) names are not discovered fields. Plain-text events have
// none (DuckDB's JSON functions fail on text that is not JSON).
func discoveredField(name string) (logsource.Field, bool) {
	if name == "" || strings.HasPrefix(name, "@") || strings.ContainsAny(name, "\"\\") {
		return logsource.Field{}, false
	}
	paths := jsonPaths(name)
	calls := make([]string, len(paths))
	args := make([]any, len(paths))
	for i, p := range paths {
		calls[i] = `json_extract_string("e"."message", ?)`
		args[i] = p
	}
	expr := calls[0]
	if len(calls) > 1 {
		expr = "coalesce(" + strings.Join(calls, ", ") + ")"
	}
	return logsource.Field{Name: name, SQL: `(CASE WHEN "e"."is_json" THEN ` + expr + ` END)`, Args: args,
		Kind: logsource.KindString, Width: fieldWidth}, true
}

// jsonPaths are the DuckDB JSON paths a flattened name may stand for:
// every way of cutting it at its dots into keys (more cuts first), each
// all-digit key also as an array index (first), at most maxPaths.
func jsonPaths(name string) []string {
	parts := strings.Split(name, ".")
	var out []string
	var walk func(i int, path string)
	walk = func(i int, path string) {
		if len(out) >= maxPaths {
			return
		}
		if i == len(parts) {
			out = append(out, path)
			return
		}
		for j := i + 1; j <= len(parts); j++ {
			key := strings.Join(parts[i:j], ".")
			if isDigits(key) {
				walk(j, path+"["+key+"]")
			}
			walk(j, path+`."`+key+`"`)
		}
	}
	walk(0, "$")
	return out
}

func isDigits(s string) bool {
	if s == "" || len(s) > 9 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
