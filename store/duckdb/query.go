package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

// minBucketsPerRange is why Top reads a roll-up only when its buckets are at
// most a twentieth of the range: widening the range to whole buckets
// then moves its ends by at most 5%.
const minBucketsPerRange = 20

// selection is the table and the epoch-ms range [startMs, endMs) a query
// reads; for roll-ups the range is already rounded to the bucket width.
type selection struct {
	table   tableSpec
	startMs int64
	endMs   int64
}

// topSelection picks the table for Top; see the package documentation.
func (s *Store) topSelection(q store.TopQuery) selection {
	startMs, endMs := q.Start.UnixMilli(), q.End.UnixMilli()
	if q.By == store.ByResource || q.By == store.ByAttribute { // attributes are in the resource keys
		for i := len(rollupTables) - 1; i >= 0; i-- {
			t := rollupTables[i]
			if t.width*minBucketsPerRange > endMs-startMs {
				continue
			}
			if sel, ok := s.rollupSelection(t, startMs, endMs); ok {
				return sel
			}
		}
	}
	return selection{table: rawTable, startMs: startMs, endMs: endMs}
}

// seriesSelection picks the table for Series: the finest roll-up whose
// width divides the step, so that every step bucket is whole buckets.
func (s *Store) seriesSelection(q store.SeriesQuery) selection {
	startMs, endMs := q.Start.UnixMilli(), q.End.UnixMilli()
	if q.By == store.ByResource {
		stepMs := q.EffectiveStep().Milliseconds()
		for _, t := range rollupTables {
			if stepMs%t.width != 0 {
				continue
			}
			if sel, ok := s.rollupSelection(t, startMs, endMs); ok {
				return sel
			}
		}
	}
	return selection{table: rawTable, startMs: startMs, endMs: endMs}
}

// rollupSelection widens the range to whole buckets of t (start rounded
// down, end rounded up, so the freshest partial bucket is never cut off)
// and reports whether t's retention still covers the rounded start.
func (s *Store) rollupSelection(t tableSpec, startMs, endMs int64) (selection, bool) {
	sel := selection{table: t, startMs: bucketOf(startMs, t.width), endMs: bucketOf(endMs+t.width-1, t.width)}
	return sel, sel.startMs >= s.horizon(t.level)
}

// sqlBuilder accumulates a statement and its bound arguments in textual
// order; user values only ever enter as arguments.
type sqlBuilder struct {
	sb   strings.Builder
	args []any
}

func (b *sqlBuilder) add(parts ...string) {
	for _, p := range parts {
		b.sb.WriteString(p)
	}
}

// arg writes a placeholder for v.
func (b *sqlBuilder) arg(v any) {
	b.sb.WriteByte('?')
	b.args = append(b.args, v)
}

// inList writes "(?, ?, ...)" for ids.
func (b *sqlBuilder) inList(ids []uint32) {
	b.add("(")
	for i, id := range ids {
		if i > 0 {
			b.add(", ")
		}
		b.arg(id)
	}
	b.add(")")
}

const sumsSQL = `sum(bytes_sent) AS bs, sum(bytes_received) AS br, sum(retransmissions) AS rt,
	sum(timeouts) AS tmo, sum(conns_opened) AS co, sum(conns_closed) AS cc,
	sum(failed_refused::BIGINT + failed_timeout + failed_reset) AS cf, sum(rtt_count) AS rc, sum(rtt_sum_us) AS rs`

const resumSQL = `sum(f.bs) AS bs, sum(f.br) AS br, sum(f.rt) AS rt, sum(f.tmo) AS tmo, sum(f.co) AS co,
	sum(f.cc) AS cc, sum(f.cf) AS cf, sum(f.rc) AS rc, sum(f.rs) AS rs`

const totalsSQL = `g.bs::UBIGINT, g.br::UBIGINT, g.rt::UBIGINT, g.tmo::UBIGINT, g.co::UBIGINT,
	g.cc::UBIGINT, g.cf::UBIGINT, g.rc::UBIGINT, g.rs::UBIGINT`

// groupsCTE writes "WITH ... g AS (...)": per group id (flow key id for
// ByFlow, resource key id for ByResource) the summed counters over the
// selection, per step bucket ts when stepMs > 0, restricted to ids when
// given.
func groupsCTE(b *sqlBuilder, by store.Grouping, sel selection, stepMs int64, ids []uint32) {
	tc := sel.table.timeCol
	ts := func() {
		if stepMs > 0 {
			// floor to the step, also for times before 1970
			b.add(tc, " - ((", tc, " % ")
			b.arg(stepMs)
			b.add(") + ")
			b.arg(stepMs)
			b.add(") % ")
			b.arg(stepMs)
			b.add(" AS ts, ")
		}
	}
	where := func() {
		b.add(" WHERE ", tc, " >= ")
		b.arg(sel.startMs)
		b.add(" AND ", tc, " < ")
		b.arg(sel.endMs)
	}
	tsCol := ""
	if stepMs > 0 {
		tsCol = "ts, "
	}
	switch {
	case sel.table.width > 0: // roll-up: already per resource key
		b.add("WITH g AS (SELECT resource_id AS gid, ")
		ts()
		b.add(sumsSQL, " FROM ", sel.table.name)
		where()
		if ids != nil {
			b.add(" AND resource_id IN ")
			b.inList(ids)
		}
		b.add(" GROUP BY ALL)")
	case by == store.ByFlow:
		b.add("WITH g AS (SELECT key_id AS gid, ")
		ts()
		b.add(sumsSQL, " FROM flows")
		where()
		if ids != nil {
			b.add(" AND key_id IN ")
			b.inList(ids)
		}
		b.add(" GROUP BY ALL)")
	default: // raw by resource: aggregate per key first, then per resource
		b.add("WITH f AS (SELECT key_id, ")
		ts()
		b.add(sumsSQL, " FROM flows")
		where()
		b.add(" GROUP BY ALL), g AS (SELECT k.resource_id AS gid, ", tsCol, resumSQL,
			" FROM f JOIN flow_keys k ON k.id = f.key_id")
		if ids != nil {
			b.add(" WHERE k.resource_id IN ")
			b.inList(ids)
		}
		b.add(" GROUP BY ALL)")
	}
}

// metricSQL returns the ORDER BY expression and the DOUBLE value of m over
// the columns of g. Sums stay HUGEINT for sorting, so ties are exact.
func metricSQL(m store.Metric) (sortExpr, value string) {
	switch m {
	case store.MetricRetransmissions:
		return "g.rt", "g.rt::DOUBLE"
	case store.MetricTimeouts:
		return "g.tmo", "g.tmo::DOUBLE"
	case store.MetricRoundTripTime:
		return "g.rs::DOUBLE / g.rc", "g.rs::DOUBLE / g.rc"
	default:
		return "(g.bs + g.br)", "(g.bs + g.br)::DOUBLE"
	}
}

// rankSQL is the Top statement: groups, their keys, value desc, then the
// group's dictionary id, a stable tiebreak (first stored, first listed).
// With ids, only those groups are summed: the second phase of rank.
func rankSQL(q store.TopQuery, sel selection, ids []uint32) *sqlBuilder {
	b := &sqlBuilder{}
	groupsCTE(b, q.By, sel, 0, ids)
	sortExpr, value := metricSQL(q.Metric)
	b.add(" SELECT g.gid, ", value, ", ", totalsSQL, ", ", prefixed("r.", resourceColumns))
	if q.By == store.ByFlow {
		b.add(", ", prefixed("k.", flowKeyColumns),
			" FROM g JOIN flow_keys k ON k.id = g.gid JOIN resource_keys r ON r.id = k.resource_id")
	} else {
		b.add(" FROM g JOIN resource_keys r ON r.id = g.gid")
	}
	rankFilter(b, q)
	b.add(" ORDER BY ", sortExpr, " DESC, g.gid LIMIT ")
	b.arg(q.Limit)
	return b
}

// rankAttrSQL is the Top statement for ByAttribute: the resource groups
// summed again per value of the attribute, read from the resource keys'
// JSON attributes (the name is checked and bound, never spliced).
func rankAttrSQL(q store.TopQuery, sel selection) *sqlBuilder {
	b := &sqlBuilder{}
	groupsCTE(b, store.ByResource, sel, 0, nil)
	col := "r.local_attrs"
	if q.Attribute.End == store.EndRemote {
		col = "r.remote_attrs"
	}
	b.add(", a AS (SELECT coalesce(json_extract_string(nullif(", col, ", ''), ")
	b.arg("$." + q.Attribute.Name)
	b.add("), '') AS av, ", strings.ReplaceAll(resumSQL, "f.", "g."), " FROM g JOIN resource_keys r ON r.id = g.gid WHERE TRUE")
	if q.Category != nil {
		b.add(" AND r.category = ")
		b.arg(uint8(*q.Category))
	}
	sortExpr, value := metricSQL(q.Metric)
	b.add(" GROUP BY av) SELECT g.av, ", value, ", ", totalsSQL, " FROM a g")
	if q.Metric == store.MetricRoundTripTime {
		b.add(" WHERE g.rc > 0")
	}
	b.add(" ORDER BY ", sortExpr, " DESC, g.av LIMIT ")
	b.arg(q.Limit)
	return b
}

// rankFilter writes the WHERE clause shared by both ranking statements:
// the category, and for round-trip-time groups that have samples.
func rankFilter(b *sqlBuilder, q store.TopQuery) {
	b.add(" WHERE TRUE")
	if q.Category != nil {
		b.add(" AND r.category = ")
		b.arg(uint8(*q.Category))
	}
	if q.Metric == store.MetricRoundTripTime {
		b.add(" AND g.rc > 0")
	}
}

// metricSumsSQL sums only what ranking by m needs, named as in sumsSQL.
func metricSumsSQL(m store.Metric) string {
	switch m {
	case store.MetricRetransmissions:
		return "sum(retransmissions) AS rt"
	case store.MetricTimeouts:
		return "sum(timeouts) AS tmo"
	case store.MetricRoundTripTime:
		return "sum(rtt_count) AS rc, sum(rtt_sum_us) AS rs"
	}
	return "sum(bytes_sent) AS bs, sum(bytes_received) AS br"
}

// topFlowsSQL is the first phase of rank for ByFlow: the ids of the top flow
// keys, summing only the metric's columns.
func topFlowsSQL(q store.TopQuery, sel selection) *sqlBuilder {
	b := &sqlBuilder{}
	b.add("WITH g AS (SELECT key_id AS gid, ", metricSumsSQL(q.Metric), " FROM flows WHERE end_ms >= ")
	b.arg(sel.startMs)
	b.add(" AND end_ms < ")
	b.arg(sel.endMs)
	b.add(" GROUP BY ALL) SELECT g.gid FROM g")
	if q.Category != nil {
		b.add(" JOIN flow_keys k ON k.id = g.gid JOIN resource_keys r ON r.id = k.resource_id")
	}
	rankFilter(b, q)
	sortExpr, _ := metricSQL(q.Metric)
	b.add(" ORDER BY ", sortExpr, " DESC, g.gid LIMIT ")
	b.arg(q.Limit)
	return b
}

// prefixed qualifies every column of a comma-separated list.
func prefixed(prefix, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// ranked is one Top row with the id of its group.
type ranked struct {
	gid uint32
	row store.TopRow
}

// Top ranks contributors; see the package documentation for the table
// choice and range rounding.
func (s *Store) Top(ctx context.Context, q store.TopQuery) ([]store.TopRow, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	tx, err := s.readTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	rs, err := rank(ctx, tx, q, s.topSelection(q))
	if err != nil {
		return nil, err
	}
	out := make([]store.TopRow, len(rs))
	for i := range rs {
		out[i] = rs[i].row
	}
	return out, nil
}

// rank answers Top on the selection. ByFlow reads raw flows in two phases
// within one read transaction (one snapshot): rank the flow keys summing only
// the metric's columns, then sum every total of the chosen keys alone. Over
// 50M rows that is about a third faster than summing all totals of every
// key. Roll-ups are small enough for one statement.
func rank(ctx context.Context, tx *sql.Tx, q store.TopQuery, sel selection) ([]ranked, error) {
	if q.By == store.ByAttribute {
		return queryRanked(ctx, tx, q, sel, rankAttrSQL(q, sel))
	}
	if q.By != store.ByFlow {
		return queryRanked(ctx, tx, q, sel, rankSQL(q, sel, nil))
	}
	ids, err := topFlowIDs(ctx, tx, q, sel)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	return queryRanked(ctx, tx, q, sel, rankSQL(q, sel, ids))
}

// readTx starts the transaction a query runs in, so that its statements
// see one snapshot even while Writes commit; callers roll it back.
func (s *Store) readTx(ctx context.Context) (*sql.Tx, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin read: %w", err)
	}
	return tx, nil
}

func topFlowIDs(ctx context.Context, tx *sql.Tx, q store.TopQuery, sel selection) ([]uint32, error) {
	b := topFlowsSQL(q, sel)
	rows, err := tx.QueryContext(ctx, b.sb.String(), b.args...)
	if err != nil {
		return nil, fmt.Errorf("top %s by flow: %w", q.Metric, err)
	}
	defer rows.Close()
	var ids []uint32
	for rows.Next() {
		var id uint32
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("top %s by flow: %w", q.Metric, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("top %s by flow: %w", q.Metric, err)
	}
	return ids, nil
}

func queryRanked(ctx context.Context, tx *sql.Tx, q store.TopQuery, sel selection, b *sqlBuilder) ([]ranked, error) {
	rows, err := tx.QueryContext(ctx, b.sb.String(), b.args...)
	if err != nil {
		return nil, fmt.Errorf("top %s by %s from %s: %w", q.Metric, groupingName(q.By), sel.table.name, err)
	}
	defer rows.Close()
	var out []ranked
	for rows.Next() {
		r, err := scanRanked(rows, q)
		if err != nil {
			return nil, fmt.Errorf("top %s: %w", q.Metric, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("top %s: %w", q.Metric, err)
	}
	return out, nil
}

func groupingName(g store.Grouping) string {
	switch g {
	case store.ByFlow:
		return "flow"
	case store.ByAttribute:
		return "attribute"
	}
	return "resource"
}

func scanRanked(sc scanner, q store.TopQuery) (ranked, error) {
	var r ranked
	t := &r.row.Totals
	by := q.By
	if by == store.ByAttribute {
		var v string
		err := sc.Scan(&v, &r.row.Value, &t.BytesSent, &t.BytesReceived, &t.Retransmissions, &t.Timeouts,
			&t.ConnectionsOpened, &t.ConnectionsClosed, &t.ConnectionsFailed, &t.RTTCount, &t.RTTSumUS)
		attrs := topology.Attrs{}.With(q.Attribute.Name, v)
		if q.Attribute.End == store.EndRemote {
			r.row.Remote.Attrs = attrs
		} else {
			r.row.Local.Attrs = attrs
		}
		return r, err
	}
	head := []any{&r.gid, &r.row.Value, &t.BytesSent, &t.BytesReceived, &t.Retransmissions, &t.Timeouts,
		&t.ConnectionsOpened, &t.ConnectionsClosed, &t.ConnectionsFailed, &t.RTTCount, &t.RTTSumUS}
	var f flowKeyFields
	var tail []any
	if by == store.ByFlow {
		tail = f.dest()
	}
	rk, err := scanResourceKeyBetween(sc, head, tail)
	if err != nil {
		return r, err
	}
	r.row.Category = rk.Category
	if by == store.ByFlow {
		ident, err := f.ident(&rk)
		if err != nil {
			return r, err
		}
		r.row.Local, r.row.Remote = ident.Local, ident.Remote
		r.row.LocalIP, r.row.RemoteIP = ident.Key.LocalIP, ident.Key.RemoteIP
		r.row.Port, r.row.Direction, r.row.Protocol = ident.Key.Port, ident.Key.Direction, ident.Key.Protocol
		r.row.HostID = ident.HostID
		return r, nil
	}
	r.row.Local, r.row.Remote = resourceLocations(&rk)
	return r, nil
}

// scanResourceKeyBetween scans head, the resource key columns, then tail.
func scanResourceKeyBetween(sc scanner, head, tail []any) (resourceKey, error) {
	var k resourceKey
	var cat, kind uint8
	dest := append(head, &cat, &k.LocalRegion, &k.LocalZone, &k.LocalNetwork, &k.LocalSubnet, &k.LocalHostGroup,
		&kind, &k.RemoteRegion, &k.RemoteZone, &k.RemoteNetwork, &k.RemoteSubnet, &k.RemoteService, &k.RemoteASN,
		&k.LocalAttrs, &k.RemoteAttrs)
	if err := sc.Scan(append(dest, tail...)...); err != nil {
		return k, err
	}
	k.Category, k.RemoteKind = topology.Category(cat), topology.Kind(kind)
	return k, nil
}

// resourceLocations sets only the resource fields, as TopRow documents for
// ByResource rows.
func resourceLocations(rk *resourceKey) (local, remote topology.Location) {
	local = topology.Location{Region: rk.LocalRegion, Zone: rk.LocalZone, Network: rk.LocalNetwork,
		Subnet: rk.LocalSubnet, HostGroup: rk.LocalHostGroup}
	remote = topology.Location{Kind: rk.RemoteKind, Region: rk.RemoteRegion, Zone: rk.RemoteZone,
		Network: rk.RemoteNetwork, Subnet: rk.RemoteSubnet, Service: rk.RemoteService, ASN: rk.RemoteASN}
	local.Attrs, remote.Attrs = rk.attrs()
	return local, remote
}

// Series ranks the top Limit contributors over the whole range, then
// returns each one's points per Step bucket (buckets aligned to the Unix
// epoch, empty ones omitted; for round-trip-time, buckets without samples
// are empty).
func (s *Store) Series(ctx context.Context, q store.SeriesQuery) ([]store.Series, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	tx, err := s.readTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	sel := s.seriesSelection(q)
	top, err := rank(ctx, tx, q.TopQuery, sel)
	if err != nil || len(top) == 0 {
		return []store.Series{}, err
	}
	ids := make([]uint32, len(top))
	for i := range top {
		ids[i] = top[i].gid
	}
	points, err := seriesPoints(ctx, tx, q, sel, ids)
	if err != nil {
		return nil, err
	}
	out := make([]store.Series, len(top))
	for i := range top {
		out[i] = store.Series{Row: top[i].row, Points: points[top[i].gid]}
	}
	return out, nil
}

// seriesPoints reads the per-step values of the groups ids.
func seriesPoints(ctx context.Context, tx *sql.Tx, q store.SeriesQuery, sel selection, ids []uint32) (map[uint32][]store.Point, error) {
	b := &sqlBuilder{}
	groupsCTE(b, q.By, sel, q.EffectiveStep().Milliseconds(), ids)
	_, value := metricSQL(q.Metric)
	b.add(" SELECT g.gid, g.ts, ", value, " FROM g")
	if q.Metric == store.MetricRoundTripTime {
		b.add(" WHERE g.rc > 0")
	}
	b.add(" ORDER BY g.gid, g.ts")
	rows, err := tx.QueryContext(ctx, b.sb.String(), b.args...)
	if err != nil {
		return nil, fmt.Errorf("series %s from %s: %w", q.Metric, sel.table.name, err)
	}
	defer rows.Close()
	out := make(map[uint32][]store.Point, len(ids))
	for rows.Next() {
		var gid uint32
		var ts int64
		var v float64
		if err := rows.Scan(&gid, &ts, &v); err != nil {
			return nil, fmt.Errorf("series %s: %w", q.Metric, err)
		}
		out[gid] = append(out[gid], store.Point{Time: time.UnixMilli(ts).UTC(), Value: v})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("series %s: %w", q.Metric, err)
	}
	return out, nil
}
