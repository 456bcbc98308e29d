package alarm

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/flowlens/flowlens/internal/apierr"
	"github.com/flowlens/flowlens/store"
)

// Status is an alarm's definition with its current state, the API's shape.
type Status struct {
	Definition
	State        State     `json:"state"`
	StateReason  string    `json:"state_reason"`
	StateUpdated time.Time `json:"state_updated"`
	// LastEvaluated is when the engine last judged the alarm (zero before).
	LastEvaluated time.Time `json:"last_evaluated,omitzero"`
	// Datapoints are those of the last evaluation, oldest first.
	Datapoints    []DatapointJSON `json:"datapoints"`
	Notifications NotifyStatus    `json:"notifications"`
	Created       time.Time       `json:"created"`
}

// NotifyStatus counts an alarm's notifications.
type NotifyStatus struct {
	Sent      int64     `json:"sent"`
	Failed    int64     `json:"failed"`
	LastError string    `json:"last_error,omitempty"`
	LastErrAt time.Time `json:"last_error_at,omitzero"`
}

// DatapointJSON is a datapoint as the API, history and webhooks show it
// (value null when the period had no data).
type DatapointJSON struct {
	Time  time.Time `json:"time"`
	Value *float64  `json:"value"`
}

func toJSONPoints(dps []Datapoint) []DatapointJSON {
	out := make([]DatapointJSON, len(dps))
	for i, p := range dps {
		out[i].Time = p.Time.UTC()
		if !p.Missing {
			v := p.Value
			out[i].Value = &v
		}
	}
	return out
}

// HistoryItem is one state transition (or a configuration change).
type HistoryItem struct {
	Time       time.Time       `json:"time"`
	Kind       string          `json:"kind"` // "state" or "config"
	OldState   State           `json:"old_state,omitempty"`
	NewState   State           `json:"new_state,omitempty"`
	Reason     string          `json:"reason"`
	Datapoints []DatapointJSON `json:"datapoints,omitempty"`
}

// ErrNotFound is returned for an alarm that does not exist.
var ErrNotFound = apierr.NotFound("no such alarm")

// ErrExists is returned when creating an alarm whose name is taken.
var ErrExists = apierr.Exists("alarm already exists")

var migrations = []store.Migration{{Version: 1, Name: "alarms and their history", Stmts: []string{
	`CREATE TABLE alarms (
		name          VARCHAR PRIMARY KEY,
		definition    VARCHAR NOT NULL,
		state         VARCHAR NOT NULL,
		reason        VARCHAR NOT NULL,
		state_ms      BIGINT NOT NULL,
		created_ms    BIGINT NOT NULL,
		datapoints    VARCHAR NOT NULL,
		notifications VARCHAR NOT NULL
	)`,
	`CREATE TABLE alarm_history (
		name       VARCHAR NOT NULL,
		ts_ms      BIGINT NOT NULL,
		kind       VARCHAR NOT NULL,
		old_state  VARCHAR NOT NULL,
		new_state  VARCHAR NOT NULL,
		reason     VARCHAR NOT NULL,
		datapoints VARCHAR NOT NULL
	)`,
}}}

// tables reads and writes the alarm tables of the DuckDB file.
type tables struct {
	db *sql.DB
}

func openTables(ctx context.Context, db store.ComponentDB) (*tables, error) {
	if err := db.MigrateComponent(ctx, "alarm", migrations); err != nil {
		return nil, err
	}
	return &tables{db: db.DB()}, nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own plain structs are marshalled
	}
	return string(b)
}

func (t *tables) load(ctx context.Context) ([]*Status, error) {
	rows, err := t.db.QueryContext(ctx, `SELECT definition, state, reason, state_ms, created_ms, datapoints, notifications FROM alarms ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("load alarms: %w", err)
	}
	defer rows.Close()
	var out []*Status
	for rows.Next() {
		var def, dps, notes string
		var stateMs, createdMs int64
		s := &Status{}
		if err := rows.Scan(&def, &s.State, &s.StateReason, &stateMs, &createdMs, &dps, &notes); err != nil {
			return nil, fmt.Errorf("load alarms: %w", err)
		}
		if err := json.Unmarshal([]byte(def), &s.Definition); err != nil {
			return nil, fmt.Errorf("load alarms: definition %q: %w", def, err)
		}
		json.Unmarshal([]byte(dps), &s.Datapoints)      //nolint:errcheck // informative only
		json.Unmarshal([]byte(notes), &s.Notifications) //nolint:errcheck // informative only
		s.StateUpdated, s.Created = time.UnixMilli(stateMs).UTC(), time.UnixMilli(createdMs).UTC()
		out = append(out, s)
	}
	return out, rows.Err()
}

// upsert writes the alarm's row and, if given, a history item, in one
// transaction.
func (t *tables) upsert(ctx context.Context, s *Status, h *HistoryItem) error {
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save alarm %s: %w", s.Name, err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO alarms VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		s.Name, mustJSON(s.Definition), string(s.State), s.StateReason, s.StateUpdated.UnixMilli(), s.Created.UnixMilli(),
		mustJSON(s.Datapoints), mustJSON(s.Notifications)); err != nil {
		return fmt.Errorf("save alarm %s: %w", s.Name, err)
	}
	if h != nil {
		if err := insertHistory(ctx, tx, s.Name, h); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("save alarm %s: %w", s.Name, err)
	}
	return nil
}

func insertHistory(ctx context.Context, tx *sql.Tx, name string, h *HistoryItem) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO alarm_history VALUES (?, ?, ?, ?, ?, ?, ?)`, name, h.Time.UnixMilli(), h.Kind,
		string(h.OldState), string(h.NewState), h.Reason, mustJSON(h.Datapoints)); err != nil {
		return fmt.Errorf("save alarm %s history: %w", name, err)
	}
	return nil
}

// delete removes the alarm and its history.
func (t *tables) delete(ctx context.Context, name string) error {
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("delete alarm %s: %w", name, err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	for _, q := range []string{`DELETE FROM alarms WHERE name = ?`, `DELETE FROM alarm_history WHERE name = ?`} {
		if _, err := tx.ExecContext(ctx, q, name); err != nil {
			return fmt.Errorf("delete alarm %s: %w", name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete alarm %s: %w", name, err)
	}
	return nil
}

// history returns the newest limit items, newest first.
func (t *tables) history(ctx context.Context, name string, limit int) ([]HistoryItem, error) {
	rows, err := t.db.QueryContext(ctx, `SELECT ts_ms, kind, old_state, new_state, reason, datapoints FROM alarm_history
		WHERE name = ? ORDER BY ts_ms DESC, rowid DESC LIMIT ?`, name, limit)
	if err != nil {
		return nil, fmt.Errorf("alarm %s history: %w", name, err)
	}
	defer rows.Close()
	out := []HistoryItem{}
	for rows.Next() {
		var h HistoryItem
		var ms int64
		var dps string
		if err := rows.Scan(&ms, &h.Kind, &h.OldState, &h.NewState, &h.Reason, &dps); err != nil {
			return nil, fmt.Errorf("alarm %s history: %w", name, err)
		}
		json.Unmarshal([]byte(dps), &h.Datapoints) //nolint:errcheck // informative only
		h.Time = time.UnixMilli(ms).UTC()
		out = append(out, h)
	}
	return out, rows.Err()
}

// trimHistory drops history older than cutoff.
func (t *tables) trimHistory(ctx context.Context, cutoff time.Time) error {
	if _, err := t.db.ExecContext(ctx, `DELETE FROM alarm_history WHERE ts_ms < ?`, cutoff.UnixMilli()); err != nil {
		return fmt.Errorf("trim alarm history: %w", err)
	}
	return nil
}
