package flowlogs

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"

	"github.com/flowlens/flowlens/flowlog/importer"
)

// dict is the store's copy of flowlog_strings: text values of the
// dictionary-encoded columns and their ids. Ids are dense and assigned in
// order; new ones are written in the transaction of the file that needs
// them (before its records), and forgotten again when that file is rolled
// back, so the table never has a gap the view's list lookup would
// misread.
//
// Parser goroutines encode concurrently (see cache): mu guards the maps.
type dict struct {
	mu      sync.Mutex
	ids     map[string]uint32
	values  []string // values[id-1]
	written int      // values[:written] are in the table (or the open transaction)
}

func loadDict(ctx context.Context, conn *sql.Conn) (*dict, error) {
	d := &dict{ids: map[string]uint32{}}
	rows, err := conn.QueryContext(ctx, `SELECT id, value FROM `+tableDict+` ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("load flow-log strings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id uint32
		var v string
		if err := rows.Scan(&id, &v); err != nil {
			return nil, fmt.Errorf("load flow-log strings: %w", err)
		}
		if int(id) != len(d.values)+1 {
			return nil, fmt.Errorf("load flow-log strings: id %d after %d: ids must be dense", id, len(d.values))
		}
		d.values = append(d.values, v)
		d.ids[v] = id
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load flow-log strings: %w", err)
	}
	d.written = len(d.values)
	return d, nil
}

// id returns v's id, assigning the next one to a new value.
func (d *dict) id(v []byte) uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if id, ok := d.ids[string(v)]; ok { // no allocation for the lookup
		return id
	}
	s := string(v)
	d.values = append(d.values, s)
	id := uint32(len(d.values))
	d.ids[s] = id
	return id
}

func (d *dict) idString(v string) uint32 { return d.id([]byte(v)) }

// flush writes the values assigned since the last flush in tx.
func (d *dict) flush(ctx context.Context, tx *sql.Tx) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	const per = 500
	for d.written < len(d.values) {
		n := min(per, len(d.values)-d.written)
		args := make([]any, 0, 2*n)
		for i := d.written; i < d.written+n; i++ {
			args = append(args, uint32(i+1), d.values[i])
		}
		q := `INSERT INTO ` + tableDict + ` (id, value) VALUES ` + strings.Repeat("(?, ?), ", n-1) + "(?, ?)"
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("%w: record flow-log strings: %w", importer.ErrStore, err)
		}
		d.written += n
	}
	return nil
}

// mark is the dictionary's size when a transaction begins.
func (d *dict) mark() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.values)
}

// rollback forgets every value assigned since mark: their rows went with
// the rolled-back transaction.
func (d *dict) rollback(mark int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, v := range d.values[mark:] {
		delete(d.ids, v)
	}
	d.values = d.values[:mark]
	d.written = min(d.written, mark)
}

// cache is one parser goroutine's read-only view of the values it has
// encoded, so that the shared dictionary (and its lock) is only reached
// for a value this goroutine sees for the first time. It lives for one
// import: ids of a rolled-back file die with it.
type cache struct {
	d   *dict
	ids map[string]uint32
}

func newCache(d *dict) *cache { return &cache{d: d, ids: map[string]uint32{}} }

// ID implements flowlog.Dictionary.
func (c *cache) ID(v []byte) uint32 {
	if id, ok := c.ids[string(v)]; ok {
		return id
	}
	id := c.d.id(v)
	c.ids[string(v)] = id
	return id
}
