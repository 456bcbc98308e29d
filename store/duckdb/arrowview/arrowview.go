// Package arrowview inserts Arrow records into DuckDB without copying them:
// a view registered once on a driver connection, over a reader that Go
// stages records into before each INSERT ... SELECT FROM the view.
//
// The view is registered once per connection and fed per insert because
// registering a view per insert (the obvious use of RegisterView) leaks
// every record: DuckDB never calls the stream's release callback, so the
// exported reader and its buffers stay pinned.
package arrowview

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/marcboeker/go-duckdb"
)

// View is one registered view and its feed.
type View struct {
	Name    string
	feed    *feed
	release func()
}

// Register creates the view name over schema on the raw driver connection
// dc (from sql.Conn.Raw).
func Register(dc any, name string, schema *arrow.Schema) (*View, error) {
	conn, ok := dc.(driver.Conn)
	if !ok {
		return nil, errors.New("not a driver connection")
	}
	ar, err := duckdb.NewArrowFromConn(conn)
	if err != nil {
		return nil, fmt.Errorf("arrow interface: %w", err)
	}
	f := &feed{schema: schema}
	f.refs.Store(1)
	release, err := ar.RegisterView(f, name)
	if err != nil {
		return nil, fmt.Errorf("register arrow view %s: %w", name, err)
	}
	return &View{Name: name, feed: f, release: release}, nil
}

// Stage adds rec (retained) to what the next scan of the view yields.
func (v *View) Stage(rec arrow.Record) { v.feed.stage(rec) }

// Drop forgets every staged record, consumed or not, so none outlives its
// insert.
func (v *View) Drop() { v.feed.drop() }

// Close drops the view on dc and releases the feed.
func (v *View) Close(ctx context.Context, dc any) error {
	var err error
	if ex, ok := dc.(driver.ExecerContext); ok {
		_, err = ex.ExecContext(ctx, "DROP VIEW IF EXISTS "+v.Name, nil)
	} else {
		err = errors.New("driver connection cannot execute statements")
	}
	v.release()
	v.feed.drop()
	return err
}

// feed is the array.RecordReader behind a view: each scan yields the
// staged records, then ends. DuckDB may call it from its own threads (an
// INSERT of several records runs on several), hence the mutex.
type feed struct {
	refs   atomic.Int64
	schema *arrow.Schema
	mu     sync.Mutex
	queue  []arrow.Record
	cur    arrow.Record
}

func (f *feed) Retain()               { f.refs.Add(1) }
func (f *feed) Release()              { f.refs.Add(-1) }
func (f *feed) Schema() *arrow.Schema { return f.schema }
func (f *feed) Err() error            { return nil }

func (f *feed) Record() arrow.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur
}

func (f *feed) stage(rec arrow.Record) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rec.Retain()
	f.queue = append(f.queue, rec)
}

func (f *feed) drop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, rec := range f.queue {
		rec.Release()
	}
	f.queue = f.queue[:0]
	if f.cur != nil {
		f.cur.Release()
		f.cur = nil
	}
}

func (f *feed) Next() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur != nil {
		f.cur.Release()
		f.cur = nil
	}
	if len(f.queue) == 0 {
		return false
	}
	f.cur = f.queue[0]
	f.queue = append(f.queue[:0], f.queue[1:]...)
	return true
}
