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
func (Source) LogSource(context.Context, *sql.Tx) (*logsource.Source, error) { return eventsSource, nil }

// LogGroups lists the application log groups.
func (Source) LogGroups(ctx context.Context, tx *sql.Tx) ([]string, error) {
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
	Default:  []string{"@timestamp", "@message"},
	Dynamic:  discoveredField,
}

// discoveredField reads name from the event's flat JSON object of
// discovered fields. The name travels as a bound JSON path, never as SQL;
// names with a quote or backslash (which a path would need escaped) and
// the system (@) names are not discovered fields.
func discoveredField(name string) (logsource.Field, bool) {
	if name == "" || strings.HasPrefix(name, "@") || strings.ContainsAny(name, "\"\\") {
		return logsource.Field{}, false
	}
	return logsource.Field{Name: name, SQL: `json_extract_string("e"."fields", ?)`, Args: []any{`$."` + name + `"`},
		Kind: logsource.KindString, Width: fieldWidth}, true
}
