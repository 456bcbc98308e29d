package flowlogs

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/flowlens/flowlens/flowlog"
	"github.com/flowlens/flowlens/logquery/logsource"
)

// LogSource provides the flow-log groups to the log query language: the
// flowlog_records table, described here because this side owns it. Each
// query reads the formats in its own transaction (an import may add one).
func LogSource() logsource.Provider { return recordsSource{} }

type recordsSource struct{}

func (recordsSource) LogSource(ctx context.Context, tx *sql.Tx) (*logsource.Source, error) {
	formats, err := loadFormats(ctx, tx)
	if err != nil {
		return nil, err
	}
	return RecordsSource(formats), nil
}

// LogGroups lists the flow-log groups, for SOURCE logGroups(...) in a
// query (every group with a file imported).
func (recordsSource) LogGroups(ctx context.Context, tx *sql.Tx) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT log_group FROM flowlog_files ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("list flow-log groups: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return nil, fmt.Errorf("list flow-log groups: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// loadFormats reads flowlog_formats: id -> AWS field names in order.
func loadFormats(ctx context.Context, tx *sql.Tx) (map[int][]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, fields FROM flowlog_formats`)
	if err != nil {
		return nil, fmt.Errorf("read flow-log formats (are flow logs enabled on this server?): %w", err)
	}
	defer rows.Close()
	out := map[int][]string{}
	for rows.Next() {
		var id int
		var fields string
		if err := rows.Scan(&id, &fields); err != nil {
			return nil, fmt.Errorf("read flow-log formats: %w", err)
		}
		out[id] = strings.Fields(fields)
	}
	return out, rows.Err()
}

// recordWidths are the estimated average sizes of the string fields, in
// bytes, as DuckDB reads them (text length; numbers use their type's size).
var recordWidths = map[string]int{
	"account_id": 12, "interface_id": 21, "srcaddr": 13, "dstaddr": 13, "action": 6, "log_status": 2,
	"vpc_id": 21, "subnet_id": 24, "instance_id": 19, "type": 4, "pkt_srcaddr": 13, "pkt_dstaddr": 13,
	"region": 9, "az_id": 8, "flow_direction": 7,
}

// RecordsSource is the flowlog_records table as a log source. formats maps
// flowlog_formats.id to its AWS field names in order; @message is rebuilt
// from them (NULL written as "-", fields joined by one space).
func RecordsSource(formats map[int][]string) *logsource.Source {
	quote := logsource.QuoteIdent
	s := &logsource.Source{
		Name: flowlog.Table, Table: quote(flowlog.Table),
		// event_time: start, else end, else the file's time or the
		// ingestion time (migration 5).
		TimeSQL: quote("event_time"), TimeUnit: 1, TimeCols: []string{"start"},
		GroupSQL: quote("log_group"), GroupWidth: 16,
		Default: []string{"@timestamp", "@message"},
	}
	width := func(f flowlog.Field) int {
		switch f.Type {
		case flowlog.Int32:
			return 4
		case flowlog.Int64:
			return 8
		}
		if w, ok := recordWidths[f.Column]; ok {
			return w
		}
		return 16
	}
	msgWidth := 0
	for _, f := range flowlog.Fields {
		k := logsource.KindString
		if f.Type != flowlog.String {
			k = logsource.KindNumber
		}
		s.Fields = append(s.Fields, logsource.Field{Name: f.Query, SQL: quote(f.Column), Kind: k, Width: width(f)})
	}
	s.Fields = append(s.Fields,
		logsource.Field{Name: "@timestamp", SQL: `("event_time" * 1000)`, Kind: logsource.KindTime, Width: 8},
		logsource.Field{Name: "@ingestionTime", SQL: quote("ingestion_time"), Kind: logsource.KindTime, Width: 8},
		logsource.Field{Name: "@log", SQL: quote("log_group"), Width: 16},
		logsource.Field{Name: "@logStream", SQL: quote("log_stream"), Width: 21},
	)
	s.Fields = append(s.Fields, unknownFields(s, formats)...)
	// @message: one CASE branch per format, the ids being small integers
	// read from the database (written here as numbers, not text).
	ids := make([]int, 0, len(formats))
	for id := range formats {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	var b strings.Builder
	if len(ids) == 0 {
		b.WriteString("CAST(NULL AS VARCHAR)")
	} else {
		b.WriteString(`CASE "format_id"`)
		for _, id := range ids {
			var parts []string
			unknown := 0
			for _, name := range formats[id] {
				f, ok := flowlog.FieldByName(name)
				if !ok { // kept as text in the record's extra list
					unknown++
					parts = append(parts, `coalesce("extra"[`+strconv.Itoa(unknown)+`], '-')`)
					if id == ids[0] {
						msgWidth += 17
					}
					continue
				}
				parts = append(parts, `coalesce(CAST(`+quote(f.Column)+` AS VARCHAR), '-')`)
				if id == ids[0] {
					msgWidth += width(f) + 1
				}
			}
			b.WriteString(" WHEN " + strconv.Itoa(id) + " THEN " + strings.Join(parts, " || ' ' || "))
		}
		b.WriteString(" END")
	}
	if msgWidth == 0 {
		msgWidth = 100
	}
	s.Fields = append(s.Fields, logsource.Field{Name: "@message", SQL: "(" + b.String() + ")", Width: msgWidth})
	return s
}

// unknownFields are the fields formats name that the catalogue does not
// know (stored as text in the extra list), under their camelCase name:
// per format, the value at the field's place in the list; NULL for
// records of formats without it. A name that collides with a known field
// is left out.
func unknownFields(s *logsource.Source, formats map[int][]string) []logsource.Field {
	known := map[string]bool{}
	for _, f := range s.Fields {
		known[f.Name] = true
	}
	byName := map[string][]string{} // query name -> "WHEN id THEN extra[k]"
	var order []string
	ids := make([]int, 0, len(formats))
	for id := range formats {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		k := 0
		for _, name := range formats[id] {
			if _, ok := flowlog.FieldByName(name); ok {
				continue
			}
			k++
			q := unknownQueryName(name)
			if known[q] {
				continue
			}
			if _, seen := byName[q]; !seen {
				order = append(order, q)
			}
			byName[q] = append(byName[q], " WHEN "+strconv.Itoa(id)+` THEN "extra"[`+strconv.Itoa(k)+`]`)
		}
	}
	out := make([]logsource.Field, 0, len(order))
	for _, q := range order {
		out = append(out, logsource.Field{Name: q, SQL: `(CASE "format_id"` + strings.Join(byName[q], "") + ` END)`, Width: 16})
	}
	return out
}

// unknownQueryName is the Logs Insights name of a field the catalogue
// does not know: camelCase of its AWS-style name ("new-field" ->
// "newField").
func unknownQueryName(name string) string {
	parts := strings.FieldsFunc(name, func(r rune) bool { return r == '-' || r == '_' })
	for i := 1; i < len(parts); i++ {
		parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
	}
	return strings.Join(parts, "")
}
