package duckdb

import "context"

// flowInserter moves one Write's flows columns into the open transaction.
// The default build streams them as an Arrow record (insert_arrow.go); the
// no_duckdb_arrow build tag, which also removes Arrow from go-duckdb, falls
// back to the row Appender (insert_appender.go).
type flowInserter interface {
	insert(ctx context.Context, dc any, c *flowColumns) error
	// close releases what the inserter registered on the connection.
	close(dc any) error
	name() string
}
