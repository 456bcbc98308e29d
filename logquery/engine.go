// Package logquery is the CloudWatch Logs Insights query language over
// FlowLens data: a lexer and parser for the language, a compiler to DuckDB
// SQL in which every value from the query is a bound parameter and every
// identifier comes from the source's schema, an engine that runs it over
// the stored flow-log records or the agent's flows, and the server module
// with POST /api/v1/query.
package logquery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/big"
	"sync/atomic"
	"time"
)

// Request is one query over log groups and a time range.
type Request struct {
	Query  string
	Groups []string
	Start  time.Time
	End    time.Time
}

// Result is a query's answer. Rows hold JSON-ready values: numbers,
// strings, booleans, nil for missing, and times as
// "2006-01-02 15:04:05.000" (UTC).
type Result struct {
	Columns    []string   `json:"columns"`
	Rows       [][]any    `json:"rows"`
	Statistics Statistics `json:"statistics"`
	// Warnings are hints about the query that do not stop it: a field no
	// record has (empty for every record, as in Logs Insights), with the
	// closest known name.
	Warnings []string `json:"warnings,omitempty"`
}

// Statistics describe the work of a query, as Logs Insights reports it.
type Statistics struct {
	// RecordsScanned are the records in the time range and log groups.
	RecordsScanned int64 `json:"records_scanned"`
	// RecordsMatched are the records that pass the filters before the
	// first stats, limit or dedup.
	RecordsMatched int64 `json:"records_matched"`
	// BytesScanned estimates what was read: records scanned times the
	// estimated width of every column the query reads (numbers their
	// size, strings a typical length per field, @message the sum of its
	// format's fields), plus the time and group columns.
	BytesScanned int64 `json:"bytes_scanned"`
	// ElapsedMs is the wall time from parsing to the last row.
	ElapsedMs float64 `json:"elapsed_ms"`
}

// ErrBadRequest marks errors in the request itself (not syntax errors,
// which are *Error): no groups, an unknown group mix, a bad range.
var ErrBadRequest = errors.New("bad query request")

// ErrBusy: every query slot stayed taken until the query's deadline.
var ErrBusy = errors.New("too many queries running; try again")

// ErrTimeout: the query ran past the engine's timeout (or its caller's
// deadline). The error wraps context.DeadlineExceeded too.
var ErrTimeout = errors.New("query timed out")

// EngineConfig bounds the engine's work. Zero values mean no bound.
type EngineConfig struct {
	// Timeout bounds one query from parsing to its last row, DuckDB's
	// planning included.
	Timeout time.Duration
	// MaxConcurrent queries hold a slot at once; more wait for one (until
	// their deadline). A query keeps its slot until DuckDB has really
	// stopped, even after its caller was answered.
	MaxConcurrent int
	// Dialect is the SQL the database speaks; nil is DuckDB.
	Dialect Dialect
}

// Engine runs queries on the store's database, over the sources the
// stores provide. Every caller (the API, the web UI and its CSV download)
// shares its slots and timeout.
type Engine struct {
	db      *sql.DB
	sources *Sources
	dialect Dialect
	cfg     EngineConfig
	slots   chan struct{} // nil: no limit
	running atomic.Int64  // queries holding a slot (or running, unlimited)
	waiting atomic.Int64  // queries waiting for a slot
	// busy counts queries refused for want of a slot; abandoned those
	// whose caller was answered (timeout, client gone) while DuckDB still
	// worked on them.
	busy, abandoned atomic.Int64
}

// NewEngine returns an engine over db (the embedded DuckDB file) and
// sources with no timeout and no concurrency limit, for local use (CLI,
// benchmarks).
func NewEngine(db *sql.DB, sources *Sources) *Engine {
	return NewEngineWith(db, sources, EngineConfig{})
}

// NewEngineWith returns an engine over db and sources with cfg's bounds.
func NewEngineWith(db *sql.DB, sources *Sources, cfg EngineConfig) *Engine {
	if sources == nil {
		sources = &Sources{}
	}
	e := &Engine{db: db, sources: sources, dialect: cfg.Dialect, cfg: cfg}
	if e.dialect == nil {
		e.dialect = DuckDB
	}
	if cfg.MaxConcurrent > 0 {
		e.slots = make(chan struct{}, cfg.MaxConcurrent)
	}
	return e
}

// Running is the number of queries holding a slot: answered or not, until
// DuckDB has stopped working on them.
func (e *Engine) Running() int64 { return e.running.Load() }

// Waiting is the number of queries waiting for a slot.
func (e *Engine) Waiting() int64 { return e.waiting.Load() }

// Busy is the number of queries refused because no slot came free.
func (e *Engine) Busy() int64 { return e.busy.Load() }

// Abandoned is the number of queries answered by their timeout or their
// caller's cancellation while DuckDB was still working on them.
func (e *Engine) Abandoned() int64 { return e.abandoned.Load() }

// Run parses, compiles and runs a query in one read transaction, within
// the engine's timeout and concurrency limit.
func (e *Engine) Run(ctx context.Context, req Request) (*Result, error) {
	began := time.Now()
	q, err := Parse(req.Query)
	if err != nil {
		return nil, err
	}
	return e.do(ctx, func(ctx context.Context) (*Result, error) { return e.run(ctx, q, req, began) })
}

// do runs work in a query slot, within the timeout. DuckDB cannot be
// interrupted while it plans a statement (go-duckdb interrupts only the
// execution that follows), so work runs in its own goroutine and do
// returns when ctx ends, whatever work is doing: the caller is answered
// at its deadline or as soon as its client has gone. The goroutine keeps
// the slot until work returns; with ctx done, DuckDB's execution is
// interrupted as soon as planning ends, and the statement size limits
// keep planning short.
func (e *Engine) do(ctx context.Context, work func(context.Context) (*Result, error)) (*Result, error) {
	if e.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.cfg.Timeout)
		defer cancel()
	}
	release, err := e.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	type answer struct {
		res *Result
		err error
	}
	done := make(chan answer, 1) // the goroutine never blocks on it
	go func() {
		defer release()
		res, err := work(ctx)
		done <- answer{res, err}
	}()
	select {
	case a := <-done:
		if a.err != nil && ctx.Err() != nil {
			return nil, stopped(ctx)
		}
		return a.res, a.err
	case <-ctx.Done():
		e.abandoned.Add(1)
		return nil, stopped(ctx)
	}
}

// Acquire takes one of the query slots, waiting until ctx ends
// (ErrBusy past its deadline, ctx.Err() when canceled). Run takes one
// itself; Acquire is for other work that must count against the same
// limit. release gives it back; call it once.
func (e *Engine) Acquire(ctx context.Context) (release func(), err error) {
	if e.slots != nil {
		e.waiting.Add(1)
		select {
		case e.slots <- struct{}{}:
			e.waiting.Add(-1)
		case <-ctx.Done():
			e.waiting.Add(-1)
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				e.busy.Add(1)
				return nil, ErrBusy
			}
			return nil, ctx.Err()
		}
	}
	e.running.Add(1)
	return func() {
		e.running.Add(-1)
		if e.slots != nil {
			<-e.slots
		}
	}, nil
}

// stopped is the error of a query whose context ended: ErrTimeout (and
// context.DeadlineExceeded) past the deadline, context.Canceled when the
// caller went away.
func stopped(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrTimeout, context.DeadlineExceeded)
	}
	return ctx.Err()
}

// run compiles q and runs it in one read transaction.
func (e *Engine) run(ctx context.Context, q *Query, req Request, began time.Time) (*Result, error) {
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("query: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read only
	groups, err := e.sourceGroups(ctx, tx, q, req.Groups)
	if err != nil {
		return nil, err
	}
	// A source that applies the range itself reads diff's previous period
	// too; the compiler picks the periods out of the hull.
	src, r, err := e.sources.resolve(ctx, tx, e.dialect, q, DiffHull(q, Range{Groups: groups, Start: req.Start, End: req.End}))
	if err != nil {
		return nil, err
	}
	r.Start, r.End = req.Start, req.End
	comp, err := CompileWith(e.dialect, q, src, r)
	if err != nil {
		var qe *Error
		if errors.As(err, &qe) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	res := &Result{Columns: comp.Columns, Rows: [][]any{}, Warnings: comp.Warnings}
	if err := tx.QueryRowContext(ctx, comp.ScannedSQL, comp.ScannedArgs...).Scan(&res.Statistics.RecordsScanned); err != nil {
		return nil, fmt.Errorf("query statistics: %w", err)
	}
	res.Statistics.BytesScanned = res.Statistics.RecordsScanned * int64(comp.RowBytes)
	var matched *int64
	if res.Rows, matched, err = runRows(ctx, tx, comp); err != nil {
		return nil, err
	}
	switch {
	case matched != nil:
		res.Statistics.RecordsMatched = *matched
	case comp.MatchedSQL == "":
		res.Statistics.RecordsMatched = res.Statistics.RecordsScanned
	default:
		if err := tx.QueryRowContext(ctx, comp.MatchedSQL, comp.MatchedArgs...).Scan(&res.Statistics.RecordsMatched); err != nil {
			return nil, fmt.Errorf("query statistics: %w", err)
		}
	}
	res.Statistics.ElapsedMs = float64(time.Since(began).Microseconds()) / 1000
	return res, nil
}

// sourceGroups are the request's groups plus, with a SOURCE command,
// every group whose name starts with one of its prefixes (every group
// without prefixes); SOURCE matching nothing is an error, as a request
// without groups is.
func (e *Engine) sourceGroups(ctx context.Context, tx *sql.Tx, q *Query, groups []string) ([]string, error) {
	if q.Source == nil {
		return groups, nil
	}
	all, err := e.sources.allGroups(ctx, tx)
	if err != nil {
		return nil, err
	}
	out := append([]string{}, groups...)
	for _, g := range matchPrefixes(all, q.Source.Prefixes) {
		out = appendUnique(out, g)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: SOURCE matched no log group (prefixes %q)", ErrBadRequest, q.Source.Prefixes)
	}
	return out, nil
}

// runRows runs the main statement. With MatchedInRows, its last column
// is records matched, returned apart (nil when there is no row).
func runRows(ctx context.Context, tx *sql.Tx, comp *Compiled) ([][]any, *int64, error) {
	rows, err := tx.QueryContext(ctx, comp.SQL, comp.Args...)
	if err != nil {
		return nil, nil, fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	out := [][]any{}
	n := len(comp.Columns)
	width := n
	if comp.MatchedInRows {
		width++
	}
	var matched *int64
	for rows.Next() {
		vals := make([]any, width)
		ptrs := make([]any, width)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, fmt.Errorf("query: read row: %w", err)
		}
		if comp.MatchedInRows && matched == nil {
			if m, ok := jsonValue(vals[n], KindNumber).(int64); ok {
				matched = &m
			}
		}
		vals = vals[:n]
		for i := range vals {
			vals[i] = jsonValue(vals[i], comp.Kinds[i])
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("query: %w", err)
	}
	return out, matched, nil
}

// TimeLayout is how times appear in results, as in Logs Insights (UTC).
const TimeLayout = "2006-01-02 15:04:05.000"

// jsonValue turns a scanned DuckDB value into a JSON-ready one.
func jsonValue(v any, k Kind) any {
	n, isNum := number(v)
	if k == KindTime && isNum {
		return time.UnixMilli(int64(n)).UTC().Format(TimeLayout)
	}
	switch x := v.(type) {
	case nil, string, bool:
		return x
	case []byte:
		return string(x)
	case time.Time:
		return x.UTC().Format(TimeLayout)
	case float32, float64:
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return nil
		}
		return n
	case *big.Int:
		if x.IsInt64() {
			return x.Int64()
		}
		return n
	}
	if isNum {
		switch x := v.(type) {
		case uint64:
			if x > math.MaxInt64 {
				return n
			}
			return int64(x)
		case int64:
			return x
		}
		return int64(n)
	}
	return fmt.Sprint(v)
}

// number reads any numeric scan result as float64.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int8:
		return float64(x), true
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float32:
		return float64(x), true
	case float64:
		return x, true
	case *big.Int:
		f, _ := new(big.Float).SetInt(x).Float64()
		return f, true
	}
	return 0, false
}
