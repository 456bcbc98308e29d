package flowlogs

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/flowlens/flowlens/flowlog"
	"github.com/flowlens/flowlens/flowlog/importer"
)

// Parquet files are read by name, whatever wrote them. AWS's own delivery
// names the columns after the fields with '_' for '-' (account_id,
// pkt_src_aws_service) and types them INT_32/INT_64/STRING (AWS "Flow log
// records", "Transit Gateway Flow Log records": the Parquet data type of
// each field); other writers differ: pandas and pyarrow write int64 for
// every integer (float64 where a column has a missing value), strings as
// large_string or dictionary (plain UTF8 byte arrays in the file), their
// index as __index_level_0__, and timestamps; Spark writes INT96
// timestamps and sometimes strings as plain binary. DuckDB reads the file
// (read_parquet, binary as string) and each column is converted by its
// DuckDB type:
//
//   - integer fields take any integer type, a float holding a whole
//     number, or text ("-" is NULL); start and end also take timestamps and
//     dates (Unix seconds); a row whose value is negative, too large for
//     its field, fractional or not a number is left out and counted, like
//     a bad text record;
//   - text fields take text, integers and other scalars, as text;
//   - a column of another type (lists, structs, maps, booleans for an
//     integer, ...) is an error naming the column, its type and the field.
//
// Columns whose name starts with "__" (pandas' index) are left out with a
// warning; with a given format, each of its fields must be a column (an
// error names the missing one) and other columns are left out with a
// warning. Records without start and end take the first timestamp column
// the catalogue does not know, else the file's time (FileMeta.Time).

// parquetColumn is one column of a Parquet file as it will be read.
type parquetColumn struct {
	name  string // as in the file
	typ   string // DuckDB's type of it
	field flowlog.Field
}

// parquetSchema reads the file's columns and their DuckDB types.
func (s *Store) parquetSchema(ctx context.Context, file importer.FileMeta, from string) ([]parquetColumn, error) {
	rows, err := s.conn.QueryContext(ctx, `SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM `+from+`)`)
	if err != nil {
		return nil, fmt.Errorf("%s: read parquet schema: %w", file.Source, err)
	}
	defer rows.Close()
	var cols []parquetColumn
	for rows.Next() {
		var c parquetColumn
		if err := rows.Scan(&c.name, &c.typ); err != nil {
			return nil, fmt.Errorf("%s: read parquet schema: %w", file.Source, err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: read parquet schema: %w", file.Source, err)
	}
	return cols, nil
}

// parquetFormat chooses the columns to import and their format (in file
// order, or the given format's order), with warnings for what it leaves
// out.
func parquetFormat(file importer.FileMeta, cols []parquetColumn, want *flowlog.Format) (*flowlog.Format, []parquetColumn, []string, error) {
	var warnings, skipped []string
	var keep []parquetColumn
	for _, c := range cols {
		if strings.HasPrefix(c.name, "__") {
			skipped = append(skipped, c.name)
			continue
		}
		keep = append(keep, c)
	}
	if len(skipped) > 0 {
		warnings = append(warnings, fmt.Sprintf("parquet columns %s left out (an index, not a field)", quoteList(skipped)))
	}
	if want != nil {
		byName := map[string]parquetColumn{}
		for _, c := range keep {
			byName[flowlog.ColumnName(c.name)] = c
		}
		var chosen []parquetColumn
		used := map[string]bool{}
		for i := range want.Len() {
			fd := want.Field(i)
			c, ok := byName[fd.Name]
			if !ok {
				return nil, nil, nil, fmt.Errorf("%s: %w: parquet column %q (field %s of the given format) is missing; the file's columns are %s",
					file.Source, flowlog.ErrFormat, fd.Column, fd.Name, quoteList(names(cols)))
			}
			used[c.name] = true
			chosen = append(chosen, c)
		}
		var ignored []string
		for _, c := range keep {
			if !used[c.name] {
				ignored = append(ignored, c.name)
			}
		}
		if len(ignored) > 0 {
			warnings = append(warnings, fmt.Sprintf("parquet columns %s left out (not in the given format)", quoteList(ignored)))
		}
		keep = chosen
	}
	colNames := names(keep)
	f, err := flowlog.ColumnsFormat(colNames)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: parquet %w", file.Source, err)
	}
	for i := range keep {
		keep[i].field = f.Field(i)
		if err := checkParquetType(keep[i]); err != nil {
			return nil, nil, nil, fmt.Errorf("%s: %w", file.Source, err)
		}
	}
	return f, keep, warnings, nil
}

func names(cols []parquetColumn) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.name
	}
	return out
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// DuckDB's type families as read_parquet reports them.
func isIntegerType(t string) bool {
	switch t {
	case "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT":
		return true
	}
	return false
}

func isFloatType(t string) bool {
	return t == "FLOAT" || t == "DOUBLE" || strings.HasPrefix(t, "DECIMAL")
}

func isTimeType(t string) bool {
	return strings.HasPrefix(t, "TIMESTAMP") || t == "DATE"
}

func isTextType(t string) bool { return t == "VARCHAR" || t == "BLOB" }

// isScalar: not a list, struct, map, array or union.
func isScalar(t string) bool {
	return !strings.ContainsAny(t, "[(") || strings.HasPrefix(t, "DECIMAL") || strings.HasPrefix(t, "TIMESTAMP")
}

// checkParquetType says which columns cannot hold their field.
func checkParquetType(c parquetColumn) error {
	fd := c.field
	ok := false
	switch {
	case fd.Type == flowlog.String:
		ok = isScalar(c.typ)
	case fd.Name == "start" || fd.Name == "end":
		ok = isIntegerType(c.typ) || isFloatType(c.typ) || isTextType(c.typ) || isTimeType(c.typ)
	default:
		ok = isIntegerType(c.typ) || isFloatType(c.typ) || isTextType(c.typ)
	}
	if !ok {
		return fmt.Errorf("%w: parquet column %q has type %s, which cannot hold field %s (%s integer or text)",
			flowlog.ErrFormat, c.name, c.typ, fd.Name, fd.Type)
	}
	return nil
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// parquetValue is the SQL of column c's value for its field: the text, or
// the integer as BIGINT (NULL when the column is NULL or "-", or when the
// value is not a whole number: valid tells those apart).
func parquetValue(c parquetColumn) (value, valid string) {
	src := quoteIdent(c.name)
	if c.field.Type == flowlog.String {
		if isTextType(c.typ) {
			return `nullif(CAST(` + src + ` AS VARCHAR), '-')`, ""
		}
		return `CAST(` + src + ` AS VARCHAR)`, ""
	}
	limit := "2147483647"
	if c.field.Type == flowlog.Int64 {
		limit = "9223372036854775807"
	}
	var raw, num string
	switch {
	case isIntegerType(c.typ):
		raw, num = src, `TRY_CAST(`+src+` AS BIGINT)`
	case isFloatType(c.typ):
		raw = src
		num = `CASE WHEN ` + src + ` = trunc(` + src + `) THEN TRY_CAST(` + src + ` AS BIGINT) END`
	case isTimeType(c.typ):
		raw, num = src, `epoch(`+src+`)::BIGINT`
	default: // text
		raw = `nullif(trim(CAST(` + src + ` AS VARCHAR)), '-')`
		num = `TRY_CAST(` + raw + ` AS BIGINT)`
	}
	// A value is kept when the column is NULL, or when it is a whole number
	// in the field's range; otherwise the row is left out.
	valid = `(` + raw + ` IS NULL OR coalesce(` + num + ` BETWEEN 0 AND ` + limit + `, false))`
	return num, valid
}

// BeginParquet inserts the records of the Parquet file at path with one
// INSERT ... SELECT from read_parquet, in a transaction left open for
// Commit or Rollback. Rows with a value that does not fit its field, or
// whose start or end lies more than flowlog.MaxFuture ahead, are left out
// and counted (Stored).
func (s *Store) BeginParquet(ctx context.Context, file importer.FileMeta, path string, want *flowlog.Format) (importer.ParquetWriter, error) {
	release, keep, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer release()
	from := "read_parquet(" + sqlString(path) + ", binary_as_string = true)"
	all, err := s.parquetSchema(ctx, file, from)
	if err != nil {
		return nil, err
	}
	f, cols, warnings, err := parquetFormat(file, all, want)
	if err != nil {
		return nil, err
	}
	fid, err := s.formatID(ctx, f)
	if err != nil {
		return nil, err
	}
	ft, err := s.begin(ctx, file, nil)
	if err != nil {
		return nil, err
	}
	keep() // ft holds the writer from here: every return ends it
	query, args := parquetInsert(file, f, cols, all, from, ft.fileID, fid)
	w := &parquetWriter{fileTx: ft, s: s, f: f, warnings: warnings}
	res, err := ft.tx.ExecContext(ctx, query, args...)
	if err != nil {
		ft.Rollback() //nolint:errcheck // already failing
		return nil, fmt.Errorf("%s: import parquet: %w", file.Source, err)
	}
	if w.records, err = res.RowsAffected(); err != nil {
		ft.Rollback() //nolint:errcheck // already failing
		return nil, fmt.Errorf("%s: import parquet: %w", file.Source, err)
	}
	if err := w.countLeftOut(ctx, from); err != nil {
		ft.Rollback() //nolint:errcheck // already failing
		return nil, err
	}
	return w, nil
}

// parquetInsert is the INSERT ... SELECT of a Parquet file into the wide
// table (values are converted in SQL, not dictionary-encoded by a parser)
// and its arguments: group, stream, file id, format id, the version when
// no column has it, and the time of records without start or end.
func parquetInsert(file importer.FileMeta, f *flowlog.Format, cols, all []parquetColumn, from string, fileID uint32, formatID uint16) (string, []any) {
	stream := `coalesce(nullif(CAST("interface_id" AS VARCHAR), '-'), ?)`
	if file.Stream != "" || f.Position("interface-id") < 0 {
		stream = "?"
	}
	streamArg := file.Stream
	if streamArg == "" {
		streamArg = baseName(file.Source)
	}
	outCols := []string{"log_group", "log_stream", "file_id", "format_id"}
	sel := []string{"?", stream, "?", "?"}
	args := []any{file.Group, streamArg, fileID, formatID}
	if f.Position("version") < 0 {
		outCols, sel, args = append(outCols, `"version"`), append(sel, "?"), append(args, int32(f.Version()))
	}
	latest := strconv.FormatInt(time.Now().Add(flowlog.MaxFuture).Unix(), 10)
	var where, extra []string
	timeOf := map[string]string{}
	for _, c := range cols {
		val, valid := parquetValue(c)
		if valid != "" {
			where = append(where, valid)
		}
		if c.field.Unknown {
			extra = append(extra, val)
			continue
		}
		outCols = append(outCols, `"`+c.field.Column+`"`)
		sel = append(sel, `CAST(`+val+` AS `+sqlType(c.field.Type)+`)`)
		if c.field.Name == "start" || c.field.Name == "end" {
			timeOf[c.field.Name] = val
			where = append(where, `coalesce(`+val+` <= `+latest+`, true)`)
		}
	}
	if len(extra) > 0 {
		outCols, sel = append(outCols, colExtra), append(sel, "list_value("+strings.Join(extra, ", ")+")")
	}
	// Records without start and end: the first timestamp column the
	// catalogue does not know (a writer's own event time), else the file's.
	fallback := "CAST(? AS BIGINT)"
	if !f.HasTime() {
		for _, c := range all {
			if _, known := flowlog.FieldByName(flowlog.ColumnName(c.name)); !known && strings.HasPrefix(c.typ, "TIMESTAMP") {
				ts := `epoch(` + quoteIdent(c.name) + `)::BIGINT`
				fallback = `coalesce(CASE WHEN ` + ts + ` <= ` + latest + ` THEN ` + ts + ` END, CAST(? AS BIGINT))`
				break
			}
		}
	}
	outCols = append(outCols, colEventTime)
	sel = append(sel, eventTimeSQL(f, timeOf["start"], timeOf["end"]))
	sel[len(sel)-1] = strings.Replace(sel[len(sel)-1], "CAST(? AS BIGINT)", fallback, 1)
	args = append(args, file.Time)
	query := "INSERT INTO " + tableAll + " (" + strings.Join(outCols, ", ") + ") SELECT " + strings.Join(sel, ", ") + " FROM " + from
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	return query, args
}

// parquetWriter is a Parquet file inserted in a transaction not yet ended.
type parquetWriter struct {
	*fileTx
	s                *Store
	f                *flowlog.Format
	records, leftOut int64
	warnings         []string
}

func (w *parquetWriter) Format() *flowlog.Format { return w.f }

func (w *parquetWriter) Stored() (records, leftOut int64) { return w.records, w.leftOut }

func (w *parquetWriter) Warnings() []string { return w.warnings }

// countLeftOut counts the Parquet rows the insert left out (the file's row
// count comes from its metadata, so this costs no scan).
func (w *parquetWriter) countLeftOut(ctx context.Context, from string) error {
	var total int64
	if err := w.tx.QueryRowContext(ctx, `SELECT count(*) FROM `+from).Scan(&total); err != nil {
		return fmt.Errorf("%w: count parquet rows: %w", importer.ErrStore, err)
	}
	w.leftOut = max(total-w.records, 0)
	return nil
}

// Messages reads the committed file's records back, rebuilding each
// record's text line from its format (Parquet files have no text).
func (w *parquetWriter) Messages(ctx context.Context, fn func(unixSec []int64, msgs []string)) error {
	parts := make([]string, w.f.Len())
	for i := range parts {
		col := `"` + w.f.Field(i).Column + `"`
		if k := w.f.UnknownIndex(i); k >= 0 {
			col = colExtra + `[` + strconv.Itoa(k+1) + `]`
		}
		parts[i] = `coalesce(CAST(` + col + ` AS VARCHAR), '-')`
	}
	rows, err := w.s.db.QueryContext(ctx, `SELECT `+colEventTime+`, concat_ws(' ', `+strings.Join(parts, ", ")+`) FROM `+Table+` WHERE file_id = ?`, w.fileID)
	if err != nil {
		return fmt.Errorf("read back flow-log records for metric filters: %w", err)
	}
	defer rows.Close()
	const batch = 8192
	times := make([]int64, 0, batch)
	msgs := make([]string, 0, batch)
	for rows.Next() {
		var t int64
		var m string
		if err := rows.Scan(&t, &m); err != nil {
			return fmt.Errorf("read back flow-log records: %w", err)
		}
		times, msgs = append(times, t), append(msgs, m)
		if len(times) == batch {
			fn(times, msgs)
			times, msgs = make([]int64, 0, batch), make([]string, 0, batch)
		}
	}
	if len(times) > 0 {
		fn(times, msgs)
	}
	return rows.Err()
}
