// Package logsource describes what the log query language reads: a
// source's table, its fields (name, SQL, type, width) and how the time
// range and log groups apply to it. It is the contract between logquery,
// which compiles queries over a source, and the packages that own the
// tables (the flow store for the agents' flows, the flow-log side for
// flow-log groups): each describes its own tables in its database's SQL
// dialect, so logquery never knows a store's private tables. It imports
// nothing but the standard library, so a store can depend on it without
// linking the compiler.
package logsource

import (
	"context"
	"database/sql"
	"sort"
	"strings"
)

// FlowsGroup is the log group name of the agents' flows, queryable like a
// flow-log group.
const FlowsGroup = "flowlens/flows"

// Kind is a value's type as the compiler tracks it.
type Kind uint8

const (
	KindString Kind = iota
	KindNumber
	KindBool
	// KindTime is milliseconds since the Unix epoch; results show it as
	// "2006-01-02 15:04:05.000" (UTC), as Logs Insights does.
	KindTime
	// KindJSON is a map or a list (Logs Insights' structure types) made
	// by jsonParse in a query; results show it as JSON text, and its
	// string values as they are.
	KindJSON
)

func (k Kind) String() string {
	return [...]string{"string", "number", "boolean", "time", "map or list"}[k]
}

// Field is one queryable field of a source.
type Field struct {
	Name string // the query name: srcAddr, @timestamp
	// SQL computes the field over the source's FROM. Its owner writes it
	// from quoted identifiers and constants only; query text never
	// reaches it.
	SQL  string
	Kind Kind
	// Width is the estimated bytes read per record for this field (see
	// logquery.Statistics.BytesScanned).
	Width int
	// Join is the table alias the field needs besides the main table ("" none).
	Join string
	// Args are the bound values of "?" in SQL, in order (a dynamic
	// field's name as a JSON path, say), so that query text reaches the
	// database only as parameters.
	Args []any
}

// Source is what a query reads: a table (or joined tables), its fields,
// and how the time range and log groups apply to it.
type Source struct {
	Name   string
	Fields []Field
	// Table is the FROM clause without joins; Joins are added when a used
	// field needs them, in order (a join may need an earlier one).
	Table string
	// TableArgs are the bound values of "?" in Table, in order (a source
	// built from subqueries, such as several sources in one query).
	TableArgs []any
	Joins     []Join
	// TimeSQL is the column the time range applies to, in TimeUnit units
	// (1 for seconds, 1000 for milliseconds), inclusive at both ends.
	TimeSQL  string
	TimeUnit int64
	TimeCols []string // the columns TimeSQL reads (for bytes scanned)
	// GroupSQL is the log-group column, "" when the source is one group.
	GroupSQL   string
	GroupWidth int
	// Default are the result fields of a query that chooses none.
	Default []string
	// Dynamic resolves names not in Fields (families of fields such as
	// remote.attr.NAME); nil when the source has none.
	Dynamic func(name string) (Field, bool)
}

// Join is one optional join of a source.
type Join struct {
	Alias string
	SQL   string // " JOIN ... ON ..."
	Needs string // an earlier join this one needs
}

// FieldNames lists the source's fields, sorted.
func (s *Source) FieldNames() []string {
	out := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		out[i] = f.Name
	}
	sort.Strings(out)
	return out
}

// Provider builds a source for one query. It may read what the source
// depends on (the flow-log formats) in tx, the query's read transaction.
type Provider interface {
	LogSource(ctx context.Context, tx *sql.Tx) (*Source, error)
}

// Static is a Provider of a source that never changes (the flows).
// Compilation only reads a source, so one value serves every query.
type Static struct{ Src *Source }

// LogSource returns the source.
func (s Static) LogSource(context.Context, *sql.Tx) (*Source, error) { return s.Src, nil }

// QuoteIdent quotes an identifier with double quotes, doubling any inside
// (standard SQL; DuckDB and ClickHouse read it).
func QuoteIdent(ident string) string { return `"` + strings.ReplaceAll(ident, `"`, `""`) + `"` }

// GroupLister is a Provider that can list its log groups (for SOURCE
// logGroups(namePrefix: [...]) in a query).
type GroupLister interface {
	LogGroups(ctx context.Context, tx *sql.Tx) ([]string, error)
}
