package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/flowlens/flowlens/store"
)

// ErrSchemaTooNew is returned by Open when the file was written by a newer
// FlowLens whose schema this binary does not know; running on would risk
// corrupting it.
var ErrSchemaTooNew = store.ErrSchemaTooNew

// migration is one step of the schema. Steps are applied in version order
// and never edited once released: a change is a new step. Other features
// (flow logs, metric points, alarms) add their tables by appending steps.
type migration struct {
	version int
	name    string
	stmts   []string
}

// migrations is the ordered schema history; versions start at 1 and
// increase by one.
var migrations = []migration{
	{version: 1, name: "flows, dictionaries, roll-ups and batch idempotency", stmts: schemaV1},
	{version: 2, name: "batch idempotency per agent epoch", stmts: schemaV2},
	{version: 3, name: "enrichment attributes of both ends in resource keys", stmts: schemaV3},
}

// schemaV3 keeps the attributes enrichment providers add to each end of a
// flow (package enrich) in the resource dictionary, as the canonical JSON
// object (” when none): flows stay as narrow as they were, roll-ups group
// by them for free, and a new provider needs no new column. The columns go
// last: Write appends rows in column order.
var schemaV3 = []string{
	`ALTER TABLE resource_keys ADD COLUMN local_attrs VARCHAR DEFAULT ''`,
	`ALTER TABLE resource_keys ADD COLUMN remote_attrs VARCHAR DEFAULT ''`,
}

// schemaV2 keys batch_seen by (agent_id, epoch, sequence): the epoch is the
// agent's random per-spool key space (wire field Report.epoch), so an agent
// whose spool was lost and whose sequences restart at 1 is not taken for a
// replay. Rows written before it, and agents that send no epoch, have 0.
// The column goes last: Write and Maintain append rows in column order.
var schemaV2 = []string{
	`ALTER TABLE batch_seen ADD COLUMN epoch UBIGINT DEFAULT 0`,
}

// schemaV1 is the flow store. Wide, repetitive values live in two
// dictionaries so the hot table is narrow (one small id per row):
//   - resource_keys: the resource-level key the roll-ups group by.
//   - flow_keys: one flow of one agent with its full locations.
//
// Times are epoch milliseconds (BIGINT); rows are bucketed by end time, and
// flows keeps the interval as end and length (dur_ms).
// Counters are signed although they are unsigned in Go: DuckDB sums BIGINT
// with 64-bit accumulators when column statistics rule out overflow, but
// always sums UBIGINT into 128-bit ones, 5 to 10 times slower (Top ByFlow
// over 50M rows went from 2.4 s to under 1 s). In flows, counts and latency
// extremes are UINTEGER (see narrowValue). Write clamps values to the
// column type; no real interval comes close.
// latency_hist is stored uncompressed: histograms differ from row to row,
// so dictionary and FSST analysis cost ingest time for little gain.
// latency_hist holds the RTT and handshake histograms (see hist.go), NULL
// when both are empty. Roll-up rows are partial sums appended by Write and
// merged by Maintain; compacted marks the merged ones.
var schemaV1 = []string{
	`CREATE TABLE resource_keys (
		id               UINTEGER PRIMARY KEY,
		category         UTINYINT NOT NULL,
		local_region     VARCHAR NOT NULL,
		local_zone       VARCHAR NOT NULL,
		local_network    VARCHAR NOT NULL,
		local_subnet     VARCHAR NOT NULL,
		local_host_group VARCHAR NOT NULL,
		remote_kind      UTINYINT NOT NULL,
		remote_region    VARCHAR NOT NULL,
		remote_zone      VARCHAR NOT NULL,
		remote_network   VARCHAR NOT NULL,
		remote_subnet    VARCHAR NOT NULL,
		remote_service   VARCHAR NOT NULL,
		remote_asn       UINTEGER NOT NULL
	)`,
	`CREATE TABLE flow_keys (
		id                UINTEGER PRIMARY KEY,
		resource_id       UINTEGER NOT NULL,
		agent_id          VARCHAR NOT NULL,
		host_id           VARCHAR NOT NULL,
		local_ip          VARCHAR NOT NULL,
		remote_ip         VARCHAR NOT NULL,
		port              USMALLINT NOT NULL,
		direction         UTINYINT NOT NULL,
		protocol          UTINYINT NOT NULL,
		merged            BOOLEAN NOT NULL,
		remote_bits       UTINYINT NOT NULL,
		local_kind        UTINYINT NOT NULL,
		local_service     VARCHAR NOT NULL,
		local_asn         UINTEGER NOT NULL,
		local_as_org      VARCHAR NOT NULL,
		local_city        VARCHAR NOT NULL,
		local_country     VARCHAR NOT NULL,
		remote_host_group VARCHAR NOT NULL,
		remote_as_org     VARCHAR NOT NULL,
		remote_city       VARCHAR NOT NULL,
		remote_country    VARCHAR NOT NULL
	)`,
	`CREATE TABLE flows (
		end_ms            BIGINT NOT NULL,
		dur_ms            UINTEGER NOT NULL,
		key_id            UINTEGER NOT NULL,
		bytes_sent        BIGINT NOT NULL,
		bytes_received    BIGINT NOT NULL,
		segments_sent     BIGINT NOT NULL,
		segments_received BIGINT NOT NULL,
		retransmissions   UINTEGER NOT NULL,
		timeouts          UINTEGER NOT NULL,
		conns_opened      UINTEGER NOT NULL,
		conns_closed      UINTEGER NOT NULL,
		failed_refused    UINTEGER NOT NULL,
		failed_timeout    UINTEGER NOT NULL,
		failed_reset      UINTEGER NOT NULL,
		rtt_count         UINTEGER NOT NULL,
		rtt_sum_us        BIGINT NOT NULL,
		rtt_min_us        UINTEGER NOT NULL,
		rtt_max_us        UINTEGER NOT NULL,
		hs_count          UINTEGER NOT NULL,
		hs_sum_us         BIGINT NOT NULL,
		hs_min_us         UINTEGER NOT NULL,
		hs_max_us         UINTEGER NOT NULL,
		latency_hist      BLOB USING COMPRESSION uncompressed
	)`,
	rollupTableV1("rollup_1m"),
	rollupTableV1("rollup_10m"),
	rollupTableV1("rollup_1h"),
	`CREATE TABLE batch_seen (
		agent_id VARCHAR NOT NULL,
		seq_lo   UBIGINT NOT NULL,
		seq_hi   UBIGINT NOT NULL
	)`,
}

// rollupTableV1 is the shape shared by the three roll-up tables.
func rollupTableV1(name string) string {
	return `CREATE TABLE ` + name + ` (
		bucket_ms         BIGINT NOT NULL,
		resource_id       UINTEGER NOT NULL,
		compacted         BOOLEAN NOT NULL,
		flow_rows         BIGINT NOT NULL,
		bytes_sent        BIGINT NOT NULL,
		bytes_received    BIGINT NOT NULL,
		segments_sent     BIGINT NOT NULL,
		segments_received BIGINT NOT NULL,
		retransmissions   BIGINT NOT NULL,
		timeouts          BIGINT NOT NULL,
		conns_opened      BIGINT NOT NULL,
		conns_closed      BIGINT NOT NULL,
		failed_refused    BIGINT NOT NULL,
		failed_timeout    BIGINT NOT NULL,
		failed_reset      BIGINT NOT NULL,
		rtt_count         BIGINT NOT NULL,
		rtt_sum_us        BIGINT NOT NULL,
		rtt_min_us        BIGINT NOT NULL,
		rtt_max_us        BIGINT NOT NULL,
		hs_count          BIGINT NOT NULL,
		hs_sum_us         BIGINT NOT NULL,
		hs_min_us         BIGINT NOT NULL,
		hs_max_us         BIGINT NOT NULL,
		latency_hist      BLOB
	)`
}

// latestVersion is the schema version this binary writes.
func latestVersion(ms []migration) int {
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// migrate brings the database to the latest schema in one transaction, so
// a crash mid-way leaves the previous version intact.
func migrate(ctx context.Context, conn *sql.Conn, ms []migration, logger *slog.Logger) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin migration: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       VARCHAR NOT NULL,
		applied_at TIMESTAMP NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	latest := latestVersion(ms)
	if current > latest {
		return fmt.Errorf("%w: file has version %d, this binary knows up to %d", ErrSchemaTooNew, current, latest)
	}
	for _, m := range ms {
		if m.version <= current {
			continue
		}
		if err := applyMigration(ctx, tx, m); err != nil {
			return err
		}
		logger.Info("applied schema migration", "version", m.version, "name", m.name)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit migrations: %w", err)
	}
	return nil
}

func applyMigration(ctx context.Context, tx *sql.Tx, m migration) error {
	for i, stmt := range m.stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("migration %d (%s) statement %d: %w", m.version, m.name, i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, time.Now().UTC()); err != nil {
		return fmt.Errorf("record migration %d: %w", m.version, err)
	}
	return nil
}
