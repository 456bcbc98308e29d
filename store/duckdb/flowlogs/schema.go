package flowlogs

import (
	"fmt"
	"strings"

	"github.com/flowlens/flowlens/flowlog"
	"github.com/flowlens/flowlens/store"
)

// Table is the view queries read (flowlog.Table).
const Table = flowlog.Table

// Component is this package's name in the store's component_migrations.
const Component = "flowlog"

// The record table has one typed, nullable column per Field (named
// Field.Column; "-" in a record is NULL) plus:
//
//	log_group  VARCHAR   the log group
//	log_stream VARCHAR   the log stream (the interface id unless given)
//	file_id    UINTEGER  flowlog_files.id of the file or request it came from
//	format_id  USMALLINT flowlog_formats.id: the record's field order, to
//	                     rebuild @message
//
// @timestamp is the record's start (Unix seconds); @message is the record's
// fields in its format's order, NULL written as "-", joined by one space.
//
// flowlog_formats lists each distinct format (its AWS field names joined
// by one space). flowlog_files lists every imported file with its content
// hash, so importing the same file again stores nothing.
func migrations() []store.Migration {
	var cols []string
	for _, f := range baseFields {
		cols = append(cols, `"`+f.Column+`" `+sqlType(f.Type))
	}
	return []store.Migration{{Version: 1, Name: "flow-log records, formats and files", Stmts: []string{
		`CREATE TABLE flowlog_formats (
			id     USMALLINT PRIMARY KEY,
			fields VARCHAR NOT NULL UNIQUE
		)`,
		`CREATE TABLE flowlog_files (
			id          UINTEGER PRIMARY KEY,
			log_group   VARCHAR NOT NULL,
			source      VARCHAR NOT NULL,
			sha256      VARCHAR NOT NULL,
			records     BIGINT NOT NULL,
			bad_lines   BIGINT NOT NULL,
			bytes       BIGINT NOT NULL,
			imported_at TIMESTAMP NOT NULL,
			UNIQUE (log_group, sha256)
		)`,
		`CREATE TABLE ` + Table + ` (
			log_group  VARCHAR NOT NULL,
			log_stream VARCHAR NOT NULL,
			file_id    UINTEGER NOT NULL,
			format_id  USMALLINT NOT NULL,
			` + strings.Join(cols, ",\n\t\t\t") + `
		)`,
	}}, migration2(), migration3(), migration4(), migration5(), migration6()}
}

// baseFields are the fields migrations 1 to 4 knew: a migration's
// statements never change once released, whatever the catalogue gains.
var baseFields = flowlog.Fields[:flowlog.BaseFields]

// Physical tables behind the flowlog_records view (migration 2). DuckDB
// 1.1 appends a NULL VARCHAR at ~100 ns, so a default-format record in the
// 46-column table cost ~4 µs in NULLs alone (measured: 500k rows of 7
// integers took 2.2-2.9 s into the wide table, 0.15 s into a narrow one).
// Records whose fields are all version 2 (the default format and subsets)
// go to the narrow table; the rest to the wide one. Readers keep using
// flowlog_records, whose columns and meaning are unchanged.
const (
	tableV2  = "flowlog_records_v2"
	tableAll = "flowlog_records_all"
)

func migration2() store.Migration {
	var v2cols, sel []string
	for _, f := range baseFields {
		if f.Version == 2 {
			v2cols = append(v2cols, `"`+f.Column+`" `+sqlType(f.Type))
			sel = append(sel, `"`+f.Column+`"`)
		} else {
			sel = append(sel, `CAST(NULL AS `+sqlType(f.Type)+`) AS "`+f.Column+`"`)
		}
	}
	return store.Migration{Version: 2, Name: "narrow table for version 2 records behind the flowlog_records view", Stmts: []string{
		`ALTER TABLE ` + Table + ` RENAME TO ` + tableAll,
		`CREATE TABLE ` + tableV2 + ` (
			log_group  VARCHAR NOT NULL,
			log_stream VARCHAR NOT NULL,
			file_id    UINTEGER NOT NULL,
			format_id  USMALLINT NOT NULL,
			` + strings.Join(v2cols, ",\n\t\t\t") + `
		)`,
		`CREATE VIEW ` + Table + ` AS
			SELECT log_group, log_stream, file_id, format_id, ` + strings.Join(sel, ", ") + ` FROM ` + tableV2 + `
			UNION ALL
			SELECT * FROM ` + tableAll,
	}}
}

// Migration 3: version 2 records move to flowlog_records_v2d, where the
// low-cardinality text columns are UINTEGER ids into flowlog_strings
// (dictionary-encoded by the importer) and the view decodes them back.
// DuckDB 1.1 spends most of an import appending, analysing and
// compressing VARCHAR values (string stats, HyperLogLog, dictionary
// lookups); integers are several times cheaper (BENCHMARKS.md).
// log_group stays VARCHAR: every query filters on it, and a decoded
// column cannot be filtered before decoding. srcaddr and dstaddr stay
// VARCHAR too: decoding 4-byte integers back to dotted quads in SQL cost
// ~200 ns per row, which a GROUP BY srcAddr pays on every row it reads.
//
// flowlog_strings ids are dense (1, 2, 3, ...; the importer assigns them in
// order and forgets those of a rolled-back file), so the view decodes an id
// by indexing the list of all values ordered by id: one small scalar
// subquery per query, O(1) per row, no join. Ids 1-5 are the fixed
// action and log-status values; the view decodes them with CASE so that a
// filter on action or log_status needs no list at all.
const (
	tableV2D    = "flowlog_records_v2d"
	tableDict   = "flowlog_strings"
	fixedValues = 5
)

// dictColumns are the version 2 text columns stored as flowlog_strings ids.
var dictColumns = map[string]bool{"account_id": true, "interface_id": true, "action": true, "log_status": true}

// fixedDict are the values of ids 1..fixedValues.
var fixedDict = []string{"ACCEPT", "REJECT", "OK", "NODATA", "SKIPDATA"}

func migration3() store.Migration {
	var cols, sel, old, joins []string
	for _, f := range baseFields {
		c := `"` + f.Column + `"`
		switch {
		case f.Version != 2:
			sel = append(sel, `CAST(NULL AS `+sqlType(f.Type)+`) AS `+c)
			continue
		case dictColumns[f.Column]:
			cols = append(cols, c+" UINTEGER")
			sel = append(sel, decodeSQL(f.Column)+" AS "+c)
			j := "d_" + f.Column
			old = append(old, j+".id")
			joins = append(joins, `LEFT JOIN `+tableDict+` `+j+` ON `+j+`.value = r.`+c)
		default:
			cols = append(cols, c+" "+sqlType(f.Type))
			sel = append(sel, c)
			old = append(old, "r."+c)
		}
	}
	var seed []string
	for i, v := range fixedDict {
		seed = append(seed, fmt.Sprintf("(%d, '%s')", i+1, v))
	}
	var oldText []string
	for _, c := range []string{"log_stream", "account_id", "interface_id", "action", "log_status"} {
		oldText = append(oldText, `SELECT "`+c+`" AS value FROM `+tableV2)
	}
	return store.Migration{Version: 3, Name: "dictionary-encoded text columns for version 2 records", Stmts: []string{
		`CREATE TABLE ` + tableDict + ` (
			id    UINTEGER PRIMARY KEY,
			value VARCHAR NOT NULL UNIQUE
		)`,
		`INSERT INTO ` + tableDict + ` VALUES ` + strings.Join(seed, ", "),
		// Existing records: every distinct value gets the next id.
		`INSERT INTO ` + tableDict + ` SELECT ` + fmt.Sprint(fixedValues) + ` + row_number() OVER (ORDER BY value), value FROM (
			SELECT DISTINCT value FROM (` + strings.Join(oldText, " UNION ALL ") + `) WHERE value IS NOT NULL
			AND value NOT IN (SELECT value FROM ` + tableDict + `))`,
		`CREATE TABLE ` + tableV2D + ` (
			log_group  VARCHAR NOT NULL,
			log_stream UINTEGER NOT NULL,
			file_id    UINTEGER NOT NULL,
			format_id  USMALLINT NOT NULL,
			` + strings.Join(cols, ",\n\t\t\t") + `
		)`,
		// Joins, not correlated subqueries: those took 12.8 GB of memory
		// for 10M records.
		`INSERT INTO ` + tableV2D + ` SELECT r.log_group, d_stream.id, r.file_id, r.format_id, ` +
			strings.Join(old, ", ") + ` FROM ` + tableV2 + ` r
			JOIN ` + tableDict + ` d_stream ON d_stream.value = r.log_stream ` + strings.Join(joins, " "),
		`DROP VIEW ` + Table,
		`DROP TABLE ` + tableV2,
		`CREATE VIEW ` + Table + ` AS
			SELECT log_group, d.s[log_stream] AS log_stream, file_id, format_id, ` + strings.Join(sel, ", ") + `
			FROM ` + tableV2D + `, (SELECT list(value ORDER BY id) AS s FROM ` + tableDict + `) d
			UNION ALL
			SELECT * FROM ` + tableAll,
	}}
}

// decodeSQL turns column c of flowlog_records_v2d back into its text.
func decodeSQL(c string) string {
	q := `"` + c + `"`
	switch c {
	case "action":
		return `CASE ` + q + ` WHEN 1 THEN 'ACCEPT' WHEN 2 THEN 'REJECT' ELSE d.s[` + q + `] END`
	case "log_status":
		return `CASE ` + q + ` WHEN 3 THEN 'OK' WHEN 4 THEN 'NODATA' WHEN 5 THEN 'SKIPDATA' ELSE d.s[` + q + `] END`
	}
	return `d.s[` + q + `]`
}

// Migration 4: version 2 records move to flowlog_records_v2f, which has
// no log_group column: the view takes the group from flowlog_files by
// file_id (every record has its file row, written in the same
// transaction). A VARCHAR value costs DuckDB 1.1 ~0.15 µs to append even
// when it is the same in every row, a sixth of a record's append; the
// join costs queries nothing measurable (a few thousand files on the
// build side, and the group filter prunes them before the probe).
const tableV2F = "flowlog_records_v2f"

func migration4() store.Migration {
	var defs, cols, sel []string
	for _, f := range baseFields {
		c := `"` + f.Column + `"`
		switch {
		case f.Version != 2:
			sel = append(sel, `CAST(NULL AS `+sqlType(f.Type)+`) AS `+c)
		case dictColumns[f.Column]:
			defs, cols = append(defs, c+" UINTEGER"), append(cols, c)
			sel = append(sel, decodeSQL(f.Column)+" AS "+c)
		default:
			defs, cols = append(defs, c+" "+sqlType(f.Type)), append(cols, c)
			sel = append(sel, c)
		}
	}
	return store.Migration{Version: 4, Name: "version 2 records without a log_group column (read from flowlog_files)", Stmts: []string{
		`CREATE TABLE ` + tableV2F + ` (
			log_stream UINTEGER NOT NULL,
			file_id    UINTEGER NOT NULL,
			format_id  USMALLINT NOT NULL,
			` + strings.Join(defs, ",\n\t\t\t") + `
		)`,
		`INSERT INTO ` + tableV2F + ` SELECT log_stream, file_id, format_id, ` + strings.Join(cols, ", ") + ` FROM ` + tableV2D,
		`DROP VIEW ` + Table,
		`DROP TABLE ` + tableV2D,
		`CREATE VIEW ` + Table + ` AS
			SELECT f.log_group, d.s[log_stream] AS log_stream, file_id, format_id, ` + strings.Join(sel, ", ") + `
			FROM ` + tableV2F + ` JOIN (SELECT id AS file_ref, log_group FROM flowlog_files) f ON f.file_ref = file_id,
			     (SELECT list(value ORDER BY id) AS s FROM ` + tableDict + `) d
			UNION ALL
			SELECT * FROM ` + tableAll,
	}}
}

// Migration 5 (issue 15): every record has a timestamp, the Transit
// Gateway fields, and fields the catalogue does not know.
//
//   - event_time (Unix seconds) is the record's start, else its end, else
//     the time its file implies (the time in an AWS S3 delivery file name)
//     or, without one, its ingestion time. flowlog_records_all stores it;
//     flowlog_records_v2f only takes formats with start (the view reads
//     start as event_time, so range filters still prune by start's zone
//     maps: nothing changes for the default format), and its records of
//     formats without start move to flowlog_records_all here.
//   - ingestion_time (Unix milliseconds) is the file's imported_at, read
//     through the file join both branches have.
//   - the Transit Gateway fields are new columns of flowlog_records_all.
//   - extra (VARCHAR[]) holds the values of fields a format names that the
//     catalogue does not know, in format order (flowlog.Format.UnknownIndex).
const (
	colEventTime     = "event_time"
	colIngestionTime = "ingestion_time"
	colExtra         = "extra"
)

func migration5() store.Migration {
	noStart := `(SELECT id FROM flowlog_formats WHERE NOT list_contains(string_split(fields, ' '), 'start'))`
	var base []string
	for _, f := range baseFields {
		base = append(base, `"`+f.Column+`"`)
	}
	// First, while the migration-4 view still matches the tables: records
	// of v2 formats without start move to the wide table, decoded by it.
	stmts := []string{
		`INSERT INTO ` + tableAll + ` (log_group, log_stream, file_id, format_id, ` + strings.Join(base, ", ") + `)
			SELECT log_group, log_stream, file_id, format_id, ` + strings.Join(base, ", ") + ` FROM ` + Table + `
			WHERE format_id IN ` + noStart + ` AND file_id IN (SELECT DISTINCT file_id FROM ` + tableV2F + `)`,
		`DELETE FROM ` + tableV2F + ` WHERE format_id IN ` + noStart,
		`DROP VIEW ` + Table,
	}
	for _, f := range flowlog.Fields[flowlog.BaseFields:] {
		stmts = append(stmts, `ALTER TABLE `+tableAll+` ADD COLUMN "`+f.Column+`" `+sqlType(f.Type))
	}
	stmts = append(stmts,
		`ALTER TABLE `+tableAll+` ADD COLUMN `+colExtra+` VARCHAR[]`,
		`ALTER TABLE `+tableAll+` ADD COLUMN `+colEventTime+` BIGINT`,
		`UPDATE `+tableAll+` SET `+colEventTime+` = coalesce("start", "end", epoch(f.imported_at)::BIGINT)
			FROM flowlog_files f WHERE f.id = `+tableAll+`.file_id`,
		viewSQL(),
	)
	return store.Migration{Version: 5, Name: "every record timed (event_time, ingestion_time), Transit Gateway fields, unknown fields as text", Stmts: stmts}
}

// Migration 6: per-group settings (retention, store/duckdb/flowlogs
// retention.go). A group exists while it has files or a row here.
const tableGroups = "flowlog_groups"

func migration6() store.Migration {
	return store.Migration{Version: 6, Name: "per-group retention", Stmts: []string{
		`CREATE TABLE ` + tableGroups + ` (
			log_group      VARCHAR PRIMARY KEY,
			retention_days INTEGER NOT NULL
		)`,
	}}
}

// viewSQL is the flowlog_records view since migration 5: the columns of
// every field of the catalogue, log_group, log_stream, file_id,
// format_id, extra, event_time and ingestion_time.
func viewSQL() string {
	var narrow, wide []string
	for _, f := range flowlog.Fields {
		c := `"` + f.Column + `"`
		wide = append(wide, "a."+c)
		switch {
		case f.Version != 2 || f.Unknown:
			narrow = append(narrow, `CAST(NULL AS `+sqlType(f.Type)+`) AS `+c)
		case dictColumns[f.Column]:
			narrow = append(narrow, decodeSQL(f.Column)+" AS "+c)
		default:
			narrow = append(narrow, c)
		}
	}
	files := `(SELECT id AS file_ref, log_group, epoch_ms(imported_at) AS ` + colIngestionTime + ` FROM flowlog_files) f`
	return `CREATE VIEW ` + Table + ` AS
		SELECT f.log_group, d.s[log_stream] AS log_stream, file_id, format_id, ` + strings.Join(narrow, ", ") + `,
		       CAST(NULL AS VARCHAR[]) AS ` + colExtra + `, "start" AS ` + colEventTime + `, f.` + colIngestionTime + `
		FROM ` + tableV2F + ` JOIN ` + files + ` ON f.file_ref = file_id,
		     (SELECT list(value ORDER BY id) AS s FROM ` + tableDict + `) d
		UNION ALL
		SELECT a.log_group, a.log_stream, a.file_id, a.format_id, ` + strings.Join(wide, ", ") + `,
		       a.` + colExtra + `, a.` + colEventTime + `, f.` + colIngestionTime + `
		FROM ` + tableAll + ` a JOIN ` + files + ` ON f.file_ref = a.file_id`
}

// rowsCarryGroup says whether f's table stores the log group in every row
// (the wide table) or takes it from the file (flowlog_records_v2f).
func rowsCarryGroup(f *flowlog.Format) bool { return physicalTable(f) != tableV2F }

// physicalTable is where records of format f are stored by the text
// importer (Parquet goes through insertTable).
// Since migration 5 only formats with start go to the narrow table (its
// records' timestamp is start); formats with fields the catalogue does not
// know go to the wide one (its extra column).
func physicalTable(f *flowlog.Format) string {
	if f.Version() == 2 && f.HasStart() && len(f.Unknown()) == 0 {
		return tableV2F
	}
	return tableAll
}

func sqlType(t flowlog.Type) string {
	switch t {
	case flowlog.Int32:
		return "INTEGER"
	case flowlog.Int64:
		return "BIGINT"
	}
	return "VARCHAR"
}

// Migrations are the flow-log tables' schema steps, for
// MigrateComponent(ctx, Component, Migrations()) of a DuckDB store.
func Migrations() []store.Migration { return migrations() }
