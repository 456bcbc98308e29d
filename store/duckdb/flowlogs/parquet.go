package flowlog

import (
	"context"
	"fmt"
	"hash"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Parquet files as AWS delivers them name their columns after the fields
// with '_' for '-' (account_id, pkt_src_aws_service), which are exactly
// flowlog_records' column names; the AWS names are accepted too. Integer
// fields are int32/int64, the rest strings. DuckDB reads them itself
// (read_parquet) and casts each column to the table's type.

// importParquetStream spools an uploaded Parquet file (DuckDB reads
// files, not streams), hashing it on the way, then imports it.
func (im *Importer) importParquetStream(ctx context.Context, req Request, r io.Reader, sum *FileSummary, h hash.Hash) error {
	tmp, err := os.CreateTemp(im.cfg.TempDir, "flowlog-*.parquet")
	if err != nil {
		return fmt.Errorf("%s: spool parquet: %w", req.Source, err)
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, r)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: spool parquet: %w", req.Source, err)
	}
	return im.importParquetFile(ctx, req, tmp.Name(), sum, h)
}

// parquetFormat maps a Parquet file's columns to fields, in file order.
func (im *Importer) parquetFormat(ctx context.Context, req Request, lit string) (*Format, []string, []string, error) {
	rows, err := im.conn.QueryContext(ctx, `SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(`+lit+`))`)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: read parquet schema: %w", req.Source, err)
	}
	defer rows.Close()
	var names, types, orig []string
	for rows.Next() {
		var n, t string
		if err := rows.Scan(&n, &t); err != nil {
			return nil, nil, nil, fmt.Errorf("%s: read parquet schema: %w", req.Source, err)
		}
		f, ok := FieldByName(strings.ReplaceAll(n, "_", "-"))
		if !ok {
			return nil, nil, nil, fmt.Errorf("%s: parquet column %q: %w: unknown field%s", req.Source, n, ErrFormat, suggest(n))
		}
		names = append(names, f.Name)
		types = append(types, t)
		orig = append(orig, n)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: read parquet schema: %w", req.Source, err)
	}
	f, err := newFormat(names)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: parquet columns: %w", req.Source, err)
	}
	if req.Format != nil && !req.Format.Equal(f) {
		return nil, nil, nil, fmt.Errorf("%s: %w: the parquet columns are %q, the given format is %q", req.Source, ErrFormat, f.Names(), req.Format.Names())
	}
	return f, orig, types, nil
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func (im *Importer) importParquetFile(ctx context.Context, req Request, path string, sum *FileSummary, h hash.Hash) error {
	lit := sqlString(path)
	f, orig, types, err := im.parquetFormat(ctx, req, lit)
	if err != nil {
		return err
	}
	sum.Format = f.String()
	fid, err := im.formatID(ctx, f)
	if err != nil {
		return err
	}
	ft, err := im.begin(ctx)
	if err != nil {
		return err
	}
	cols := []string{"log_group", "log_stream", "file_id", "format_id"}
	stream := `coalesce(nullif(CAST("interface_id" AS VARCHAR), '-'), ?)`
	if req.Stream != "" || f.ifacePos < 0 {
		stream = "?"
	}
	sel := []string{"?", stream, "?", "?"}
	var inTime []string // start and end at most MaxFuture ahead, as for text records
	if f.versionPos < 0 {
		cols = append(cols, `"version"`)
		sel = append(sel, "?")
	}
	for i := range f.Len() {
		fd := f.Field(i)
		src := `"` + strings.ReplaceAll(orig[i], `"`, `""`) + `"`
		val := `nullif(CAST(` + src + ` AS VARCHAR), '-')`
		if fd.Type != String && !strings.Contains(types[i], "VARCHAR") {
			val = src
		}
		cols = append(cols, `"`+fd.Column+`"`)
		sel = append(sel, `CAST(`+val+` AS `+sqlType(fd.Type)+`)`)
		if fd.Name == "start" || fd.Name == "end" {
			inTime = append(inTime, `coalesce(TRY_CAST(`+val+` AS BIGINT) <= `+strconv.FormatInt(time.Now().Add(MaxFuture).Unix(), 10)+`, true)`)
		}
	}
	// Parquet values are cast in SQL, not dictionary-encoded by the
	// importer: every Parquet format goes to the wide table.
	query := "INSERT INTO " + tableAll + " (" + strings.Join(cols, ", ") + ") SELECT " + strings.Join(sel, ", ") + " FROM read_parquet(" + lit + ")"
	if len(inTime) > 0 {
		query += " WHERE " + strings.Join(inTime, " AND ")
	}
	args := insertArgs(req, f, ft.fileID, fid, nil)
	if !rowsCarryGroup(f) { // the wide table always has log_group, even for version 2 fields
		args = append([]any{req.Group}, args...)
	}
	res, err := ft.tx.ExecContext(ctx, query, args...)
	if err != nil {
		im.rollback(ft) //nolint:errcheck // already failing
		return fmt.Errorf("%s: import parquet: %w", req.Source, err)
	}
	if sum.Records, err = res.RowsAffected(); err != nil {
		im.rollback(ft) //nolint:errcheck // already failing
		return fmt.Errorf("%s: import parquet: %w", req.Source, err)
	}
	if len(inTime) > 0 {
		if err := im.countFutureRows(ctx, ft, lit, sum); err != nil {
			im.rollback(ft) //nolint:errcheck // already failing
			return err
		}
	}
	if st, err := os.Stat(path); err == nil {
		sum.Bytes = st.Size()
	}
	if err := im.finish(ctx, ft, req, sum, h); err != nil || sum.Duplicate {
		return err
	}
	return im.notifyStored(ctx, req.Group, f, ft.fileID)
}

// countFutureRows counts the Parquet rows the insert left out for a start or
// end too far in the future as bad lines (the file's row count comes from its
// metadata, so this costs no scan).
func (im *Importer) countFutureRows(ctx context.Context, ft *fileTx, lit string, sum *FileSummary) error {
	var total int64
	if err := ft.tx.QueryRowContext(ctx, `SELECT count(*) FROM read_parquet(`+lit+`)`).Scan(&total); err != nil {
		return fmt.Errorf("%w: count parquet rows: %w", ErrStore, err)
	}
	if skipped := total - sum.Records; skipped > 0 {
		sum.BadLines += skipped
		sum.Errors = append(sum.Errors, LineError{File: sum.Source,
			Reason: fmt.Sprintf("%d records with a start or end more than %v in the future", skipped, MaxFuture)})
	}
	return nil
}

// notifyStored hands a stored file's records to the sink, rebuilding each
// record's text line from its format (Parquet files have no text).
func (im *Importer) notifyStored(ctx context.Context, group string, f *Format, fileID uint32) error {
	if im.sink == nil {
		return nil
	}
	parts := make([]string, f.Len())
	for i := range parts {
		parts[i] = `coalesce(CAST("` + f.Field(i).Column + `" AS VARCHAR), '-')`
	}
	rows, err := im.conn.QueryContext(ctx, `SELECT coalesce("start", 0), concat_ws(' ', `+strings.Join(parts, ", ")+`) FROM `+Table+` WHERE file_id = ?`, fileID)
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
			im.sink.Ingested(group, times, msgs)
			times, msgs = make([]int64, 0, batch), make([]string, 0, batch)
		}
	}
	if len(times) > 0 {
		im.sink.Ingested(group, times, msgs)
	}
	return rows.Err()
}
