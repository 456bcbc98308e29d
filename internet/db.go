package internet

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/flowlens/flowlens/store"
)

var migrations = []store.Migration{{Version: 1, Name: "internet monitors, measurements, events", Stmts: []string{
	`CREATE TABLE internet_monitors (
		name       VARCHAR PRIMARY KEY,
		definition VARCHAR NOT NULL
	)`,
	`CREATE TABLE internet_measurements (
		monitor     VARCHAR NOT NULL,
		ts_ms       BIGINT NOT NULL,
		period_ms   BIGINT NOT NULL,
		city        VARCHAR NOT NULL,
		subdivision VARCHAR NOT NULL,
		country     VARCHAR NOT NULL,
		asn         UINTEGER NOT NULL,
		as_name     VARCHAR NOT NULL,
		latitude    DOUBLE NOT NULL,
		longitude   DOUBLE NOT NULL,
		bytes_in    UBIGINT NOT NULL,
		bytes_out   UBIGINT NOT NULL,
		connections UBIGINT NOT NULL,
		failed      UBIGINT NOT NULL,
		traffic_share DOUBLE NOT NULL,
		rtt_p50_ms  DOUBLE NOT NULL,
		rtt_p90_ms  DOUBLE NOT NULL,
		rtt_p95_ms  DOUBLE NOT NULL,
		retransmission_rate DOUBLE NOT NULL,
		failed_connection_rate DOUBLE NOT NULL,
		availability DOUBLE NOT NULL,
		performance DOUBLE NOT NULL,
		traffic_impacted DOUBLE NOT NULL,
		missing     BOOLEAN NOT NULL
	)`,
	`CREATE INDEX internet_measurements_ts ON internet_measurements (monitor, ts_ms)`,
	`CREATE TABLE internet_overall (
		monitor      VARCHAR NOT NULL,
		ts_ms        BIGINT NOT NULL,
		period_ms    BIGINT NOT NULL,
		bytes_in     UBIGINT NOT NULL,
		bytes_out    UBIGINT NOT NULL,
		city_networks INTEGER NOT NULL,
		availability DOUBLE NOT NULL,
		performance  DOUBLE NOT NULL,
		rtt_p50_ms   DOUBLE NOT NULL,
		rtt_p90_ms   DOUBLE NOT NULL,
		rtt_p95_ms   DOUBLE NOT NULL
	)`,
	`CREATE TABLE internet_events (
		id         VARCHAR PRIMARY KEY,
		monitor    VARCHAR NOT NULL,
		status     VARCHAR NOT NULL,
		type       VARCHAR NOT NULL,
		started_ms BIGINT NOT NULL,
		body       VARCHAR NOT NULL
	)`,
}}, {Version: 2, Name: "internet measurements: why a network is unknown", Stmts: []string{
	`ALTER TABLE internet_measurements ADD COLUMN unresolved VARCHAR DEFAULT ''`,
}}}

// tables reads and writes the internet monitor's tables in the shared
// DuckDB file.
type tables struct {
	db      *sql.DB
	dbStore store.ComponentDB
}

func openTables(ctx context.Context, st store.ComponentDB) (*tables, error) {
	if err := st.MigrateComponent(ctx, "internet", migrations); err != nil {
		return nil, err
	}
	return &tables{db: st.DB(), dbStore: st}, nil
}

func (t *tables) monitors(ctx context.Context) ([]Monitor, error) {
	rows, err := t.db.QueryContext(ctx, `SELECT name, definition FROM internet_monitors ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("load internet monitors: %w", err)
	}
	defer rows.Close()
	var out []Monitor
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			return nil, fmt.Errorf("load internet monitors: %w", err)
		}
		var m Monitor
		if err := json.Unmarshal([]byte(def), &m); err != nil {
			return nil, fmt.Errorf("internet monitor %s: stored definition: %w", name, err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func (t *tables) putMonitor(ctx context.Context, m Monitor) error {
	b, _ := json.Marshal(m)
	if _, err := t.db.ExecContext(ctx, `INSERT INTO internet_monitors VALUES (?, ?)`, m.Name, string(b)); err != nil {
		if strings.Contains(err.Error(), "Duplicate key") || strings.Contains(err.Error(), "PRIMARY KEY") {
			return fmt.Errorf("%w: %s", ErrExists, m.Name)
		}
		return fmt.Errorf("save internet monitor %s: %w", m.Name, err)
	}
	return nil
}

func (t *tables) deleteMonitor(ctx context.Context, name string) error {
	res, err := t.db.ExecContext(ctx, `DELETE FROM internet_monitors WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete internet monitor %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return nil
}

// putPeriod stores one evaluated period and the events it changed in one
// transaction.
func (t *tables) putPeriod(ctx context.Context, o Overall, ms []Measurement, events []*Event) error {
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store internet period: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	pms := o.PeriodSeconds * 1000
	if _, err := tx.ExecContext(ctx, `INSERT INTO internet_overall VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		o.Monitor, o.Time.UnixMilli(), pms, o.BytesIn, o.BytesOut, o.CityNetworks, o.AvailabilityScore,
		o.PerformanceScore, o.RTTP50MS, o.RTTP90MS, o.RTTP95MS); err != nil {
		return fmt.Errorf("store internet overall: %w", err)
	}
	// Many rows per statement, as literals: DuckDB's per-statement cost
	// dominates single-row inserts (0.6 ms each), and binding thousands of
	// parameters in one statement is slower still (measured).
	const chunk = 500
	for i := 0; i < len(ms); i += chunk {
		var b strings.Builder
		b.WriteString(`INSERT INTO internet_measurements VALUES `)
		for j, m := range ms[i:min(i+chunk, len(ms))] {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "(%s, %d, %d, %s, %s, %s, %d, %s, %g, %g, %d, %d, %d, %d, %g, %g, %g, %g, %g, %g, %g, %g, %g, %t, %s)",
				sqlString(m.Monitor), m.Time.UnixMilli(), pms, sqlString(m.City), sqlString(m.Subdivision), sqlString(m.Country),
				m.ASN, sqlString(m.ASName), fin(m.Latitude), fin(m.Longitude), m.BytesIn, m.BytesOut, m.ClientConnections,
				m.FailedConnections, fin(m.TrafficShare), fin(m.RTTP50MS), fin(m.RTTP90MS), fin(m.RTTP95MS), fin(m.RetransmissionRate),
				fin(m.FailedConnectionRate), fin(m.AvailabilityScore), fin(m.PerformanceScore), fin(m.TrafficImpacted), m.MissingTraffic,
				sqlString(m.Unresolved))
		}
		if _, err := tx.ExecContext(ctx, b.String()); err != nil {
			return fmt.Errorf("store internet measurements: %w", err)
		}
	}
	for _, e := range events {
		b, _ := json.Marshal(e)
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO internet_events VALUES (?, ?, ?, ?, ?, ?)`,
			e.ID, e.Monitor, e.Status, e.Type, e.StartedAt.UnixMilli(), string(b)); err != nil {
			return fmt.Errorf("store internet event %s: %w", e.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store internet period: %w", err)
	}
	return nil
}

// MeasurementQuery selects measurements.
type MeasurementQuery struct {
	Monitor    string
	Start, End time.Time
	Filters    []Filter
	Limit      int // default 1,000, at most 100,000
}

func (q *MeasurementQuery) where() (string, []any) {
	conds := []string{"monitor = ?", "ts_ms >= ?", "ts_ms < ?"}
	args := []any{q.Monitor, q.Start.UnixMilli(), q.End.UnixMilli()}
	for _, f := range q.Filters {
		c, a := f.sql()
		conds = append(conds, c)
		args = append(args, a)
	}
	return strings.Join(conds, " AND "), args
}

func (q *MeasurementQuery) limit() int {
	switch {
	case q.Limit <= 0:
		return 1000
	case q.Limit > 100_000:
		return 100_000
	}
	return q.Limit
}

const measurementCols = `monitor, ts_ms, period_ms, city, subdivision, country, asn, as_name, latitude, longitude,
	bytes_in, bytes_out, connections, failed, traffic_share, rtt_p50_ms, rtt_p90_ms, rtt_p95_ms,
	retransmission_rate, failed_connection_rate, availability, performance, traffic_impacted, missing,
	coalesce(unresolved, '')`

// measurements lists measurements, newest period first, largest traffic
// first within a period.
func (t *tables) measurements(ctx context.Context, q MeasurementQuery) ([]Measurement, error) {
	where, args := q.where()
	rows, err := t.db.QueryContext(ctx, `SELECT `+measurementCols+` FROM internet_measurements WHERE `+where+
		` ORDER BY ts_ms DESC, bytes_in + bytes_out DESC, city, asn LIMIT `+fmt.Sprint(q.limit()), args...)
	if err != nil {
		return nil, fmt.Errorf("query internet measurements: %w", err)
	}
	defer rows.Close()
	out := []Measurement{}
	for rows.Next() {
		var m Measurement
		var ts, pms int64
		if err := rows.Scan(&m.Monitor, &ts, &pms, &m.City, &m.Subdivision, &m.Country, &m.ASN, &m.ASName, &m.Latitude,
			&m.Longitude, &m.BytesIn, &m.BytesOut, &m.ClientConnections, &m.FailedConnections, &m.TrafficShare,
			&m.RTTP50MS, &m.RTTP90MS, &m.RTTP95MS, &m.RetransmissionRate, &m.FailedConnectionRate,
			&m.AvailabilityScore, &m.PerformanceScore, &m.TrafficImpacted, &m.MissingTraffic, &m.Unresolved); err != nil {
			return nil, fmt.Errorf("query internet measurements: %w", err)
		}
		m.Time, m.PeriodSeconds = time.UnixMilli(ts).UTC(), pms/1000
		out = append(out, m)
	}
	return out, rows.Err()
}

// TopLocation is one city-network's figures over a time range.
type TopLocation struct {
	Location
	BytesIn           uint64  `json:"bytes_in"`
	BytesOut          uint64  `json:"bytes_out"`
	ClientConnections uint64  `json:"client_connections"`
	TrafficShare      float64 `json:"traffic_share"` // percent of the range's traffic
	// Scores and RTT are traffic-weighted over the range's periods.
	AvailabilityScore float64 `json:"availability_score"`
	PerformanceScore  float64 `json:"performance_score"`
	RTTP50MS          float64 `json:"rtt_p50_ms"`
	RTTP90MS          float64 `json:"rtt_p90_ms"`
	RTTP95MS          float64 `json:"rtt_p95_ms"`
	Periods           int     `json:"periods"`
}

// topLocations ranks city-networks by traffic over the range.
func (t *tables) topLocations(ctx context.Context, q MeasurementQuery) ([]TopLocation, error) {
	where, args := q.where()
	rows, err := t.db.QueryContext(ctx, `WITH m AS (SELECT *, (bytes_in + bytes_out)::DOUBLE AS w FROM internet_measurements WHERE `+where+`),
		total AS (SELECT sum(bytes_in + bytes_out)::DOUBLE AS t FROM internet_measurements WHERE monitor = ? AND ts_ms >= ? AND ts_ms < ?)
		SELECT city, any_value(subdivision), country, asn, any_value(as_name), any_value(latitude), any_value(longitude),
			sum(bytes_in)::UBIGINT, sum(bytes_out)::UBIGINT, sum(connections)::UBIGINT,
			coalesce(100 * sum(w) / nullif((SELECT t FROM total), 0), 0),
			coalesce(sum(availability * w) / nullif(sum(w), 0), avg(availability)),
			coalesce(sum(performance * w) / nullif(sum(w), 0), avg(performance)),
			coalesce(sum(rtt_p50_ms * w) / nullif(sum(w), 0), 0),
			coalesce(sum(rtt_p90_ms * w) / nullif(sum(w), 0), 0),
			coalesce(sum(rtt_p95_ms * w) / nullif(sum(w), 0), 0),
			count(*), coalesce(unresolved, '') AS why
		FROM m GROUP BY city, country, asn, why ORDER BY sum(w) DESC, city, asn, why LIMIT `+fmt.Sprint(q.limit()),
		append(args, q.Monitor, q.Start.UnixMilli(), q.End.UnixMilli())...)
	if err != nil {
		return nil, fmt.Errorf("query internet top locations: %w", err)
	}
	defer rows.Close()
	out := []TopLocation{}
	for rows.Next() {
		var l TopLocation
		if err := rows.Scan(&l.City, &l.Subdivision, &l.Country, &l.ASN, &l.ASName, &l.Latitude, &l.Longitude,
			&l.BytesIn, &l.BytesOut, &l.ClientConnections, &l.TrafficShare, &l.AvailabilityScore, &l.PerformanceScore,
			&l.RTTP50MS, &l.RTTP90MS, &l.RTTP95MS, &l.Periods, &l.Unresolved); err != nil {
			return nil, fmt.Errorf("query internet top locations: %w", err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// overall lists a monitor's overall figures over a range, oldest first.
func (t *tables) overall(ctx context.Context, monitor string, start, end time.Time) ([]Overall, error) {
	rows, err := t.db.QueryContext(ctx, `SELECT ts_ms, period_ms, bytes_in, bytes_out, city_networks, availability, performance,
		rtt_p50_ms, rtt_p90_ms, rtt_p95_ms FROM internet_overall WHERE monitor = ? AND ts_ms >= ? AND ts_ms < ? ORDER BY ts_ms, rowid`,
		monitor, start.UnixMilli(), end.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("query internet overall: %w", err)
	}
	defer rows.Close()
	out := []Overall{}
	for rows.Next() {
		o := Overall{Monitor: monitor}
		var ts, pms int64
		if err := rows.Scan(&ts, &pms, &o.BytesIn, &o.BytesOut, &o.CityNetworks, &o.AvailabilityScore, &o.PerformanceScore,
			&o.RTTP50MS, &o.RTTP90MS, &o.RTTP95MS); err != nil {
			return nil, fmt.Errorf("query internet overall: %w", err)
		}
		o.Time, o.PeriodSeconds = time.UnixMilli(ts).UTC(), pms/1000
		out = append(out, o)
	}
	return out, rows.Err()
}

// EventQuery selects events.
type EventQuery struct {
	Monitor    string // empty: all monitors
	Status     string // empty: both
	Start, End time.Time
	Filters    []Filter // an event matches when one of its impacted locations does
	Limit      int
}

// events lists events overlapping [Start, End), newest first.
func (t *tables) events(ctx context.Context, q EventQuery) ([]Event, error) {
	conds := []string{"started_ms < ?"}
	args := []any{q.End.UnixMilli()}
	if q.Monitor != "" {
		conds, args = append(conds, "monitor = ?"), append(args, q.Monitor)
	}
	if q.Status != "" {
		conds, args = append(conds, "status = ?"), append(args, q.Status)
	}
	rows, err := t.db.QueryContext(ctx, `SELECT body FROM internet_events WHERE `+strings.Join(conds, " AND ")+
		` ORDER BY started_ms DESC, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("query internet events: %w", err)
	}
	defer rows.Close()
	out := []Event{}
	limit := q.Limit
	if limit <= 0 {
		limit = 1000
	}
	for rows.Next() && len(out) < limit {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("query internet events: %w", err)
		}
		var e Event
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			return nil, fmt.Errorf("internet event: stored body: %w", err)
		}
		if e.EndedAt != nil && e.EndedAt.Before(q.Start) {
			continue
		}
		if len(q.Filters) > 0 && !eventMatches(&e, q.Filters) {
			continue
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func eventMatches(e *Event, fs []Filter) bool {
	for _, l := range e.ImpactedLocations {
		if matchAll(fs, l.Location) {
			return true
		}
	}
	return false
}

// activeEvents loads the events still ACTIVE, to carry them over a restart.
func (t *tables) activeEvents(ctx context.Context) ([]Event, error) {
	return t.events(ctx, EventQuery{Status: StatusActive, Start: time.Time{}, End: time.Unix(1<<40, 0), Limit: 100_000})
}

// sqlString quotes s as an SQL string literal (quotes doubled; NUL, which
// no location name has, dropped).
func sqlString(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, "\x00", ""), "'", "''") + "'"
}

// fin keeps literals valid: NaN and infinities (never expected) become 0.
func fin(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}
