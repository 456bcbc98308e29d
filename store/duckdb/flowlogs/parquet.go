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

// Parquet files as AWS delivers them name their columns after the fields
// with '_' for '-' (account_id, pkt_src_aws_service), which are exactly
// flowlog_records' column names; the AWS names are accepted too. Integer
// fields are int32/int64, the rest strings. DuckDB reads them itself
// (read_parquet) and casts each column to the table's type.

// parquetFormat maps a Parquet file's columns to fields, in file order.
func (s *Store) parquetFormat(ctx context.Context, file importer.FileMeta, lit string, want *flowlog.Format) (*flowlog.Format, []string, []string, error) {
	rows, err := s.conn.QueryContext(ctx, `SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(`+lit+`))`)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: read parquet schema: %w", file.Source, err)
	}
	defer rows.Close()
	var types, orig []string
	for rows.Next() {
		var n, t string
		if err := rows.Scan(&n, &t); err != nil {
			return nil, nil, nil, fmt.Errorf("%s: read parquet schema: %w", file.Source, err)
		}
		types = append(types, t)
		orig = append(orig, n)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: read parquet schema: %w", file.Source, err)
	}
	f, err := flowlog.ColumnsFormat(orig)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: parquet %w", file.Source, err)
	}
	if want != nil && !want.Equal(f) {
		return nil, nil, nil, fmt.Errorf("%s: %w: the parquet columns are %q, the given format is %q", file.Source, flowlog.ErrFormat, f.Names(), want.Names())
	}
	return f, orig, types, nil
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// BeginParquet inserts the records of the Parquet file at path with one
// INSERT ... SELECT from read_parquet, in a transaction left open for
// Commit or Rollback. Rows whose start or end lies more than
// flowlog.MaxFuture ahead are left out and counted (Stored).
func (s *Store) BeginParquet(ctx context.Context, file importer.FileMeta, path string, want *flowlog.Format) (importer.ParquetWriter, error) {
	release, keep, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer release()
	lit := sqlString(path)
	f, orig, types, err := s.parquetFormat(ctx, file, lit, want)
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
	cols := []string{"log_group", "log_stream", "file_id", "format_id"}
	stream := `coalesce(nullif(CAST("interface_id" AS VARCHAR), '-'), ?)`
	if file.Stream != "" || f.Position("interface-id") < 0 {
		stream = "?"
	}
	sel := []string{"?", stream, "?", "?"}
	var inTime []string // start and end at most MaxFuture ahead, as for text records
	if f.Position("version") < 0 {
		cols = append(cols, `"version"`)
		sel = append(sel, "?")
	}
	latest := strconv.FormatInt(time.Now().Add(flowlog.MaxFuture).Unix(), 10)
	for i := range f.Len() {
		fd := f.Field(i)
		src := `"` + strings.ReplaceAll(orig[i], `"`, `""`) + `"`
		val := `nullif(CAST(` + src + ` AS VARCHAR), '-')`
		if fd.Type != flowlog.String && !strings.Contains(types[i], "VARCHAR") {
			val = src
		}
		cols = append(cols, `"`+fd.Column+`"`)
		sel = append(sel, `CAST(`+val+` AS `+sqlType(fd.Type)+`)`)
		if fd.Name == "start" || fd.Name == "end" {
			inTime = append(inTime, `coalesce(TRY_CAST(`+val+` AS BIGINT) <= `+latest+`, true)`)
		}
	}
	// Parquet values are cast in SQL, not dictionary-encoded by the
	// parser: every Parquet format goes to the wide table.
	query := "INSERT INTO " + tableAll + " (" + strings.Join(cols, ", ") + ") SELECT " + strings.Join(sel, ", ") + " FROM read_parquet(" + lit + ")"
	if len(inTime) > 0 {
		query += " WHERE " + strings.Join(inTime, " AND ")
	}
	args := insertArgs(file, f, ft.fileID, fid, nil)
	if !rowsCarryGroup(f) { // the wide table always has log_group, even for version 2 fields
		args = append([]any{file.Group}, args...)
	}
	w := &parquetWriter{fileTx: ft, s: s, f: f}
	res, err := ft.tx.ExecContext(ctx, query, args...)
	if err != nil {
		ft.Rollback() //nolint:errcheck // already failing
		return nil, fmt.Errorf("%s: import parquet: %w", file.Source, err)
	}
	if w.records, err = res.RowsAffected(); err != nil {
		ft.Rollback() //nolint:errcheck // already failing
		return nil, fmt.Errorf("%s: import parquet: %w", file.Source, err)
	}
	if len(inTime) > 0 {
		if err := w.countFutureRows(ctx, lit); err != nil {
			ft.Rollback() //nolint:errcheck // already failing
			return nil, err
		}
	}
	return w, nil
}

// parquetWriter is a Parquet file inserted in a transaction not yet ended.
type parquetWriter struct {
	*fileTx
	s               *Store
	f               *flowlog.Format
	records, future int64
}

func (w *parquetWriter) Format() *flowlog.Format { return w.f }

func (w *parquetWriter) Stored() (records, future int64) { return w.records, w.future }

// countFutureRows counts the Parquet rows the insert left out for a start or
// end too far in the future (the file's row count comes from its
// metadata, so this costs no scan).
func (w *parquetWriter) countFutureRows(ctx context.Context, lit string) error {
	var total int64
	if err := w.tx.QueryRowContext(ctx, `SELECT count(*) FROM read_parquet(`+lit+`)`).Scan(&total); err != nil {
		return fmt.Errorf("%w: count parquet rows: %w", importer.ErrStore, err)
	}
	w.future = max(total-w.records, 0)
	return nil
}

// Messages reads the committed file's records back, rebuilding each
// record's text line from its format (Parquet files have no text).
func (w *parquetWriter) Messages(ctx context.Context, fn func(unixSec []int64, msgs []string)) error {
	parts := make([]string, w.f.Len())
	for i := range parts {
		parts[i] = `coalesce(CAST("` + w.f.Field(i).Column + `" AS VARCHAR), '-')`
	}
	rows, err := w.s.db.QueryContext(ctx, `SELECT coalesce("start", 0), concat_ws(' ', `+strings.Join(parts, ", ")+`) FROM `+Table+` WHERE file_id = ?`, w.fileID)
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
