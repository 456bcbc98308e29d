//go:build no_duckdb_arrow

package duckdb

import (
	"context"
	"database/sql/driver"
)

// appenderInserter appends flows row by row with DuckDB's Appender.
type appenderInserter struct {
	vals []driver.Value
}

func newFlowInserter(any) (flowInserter, error) {
	return &appenderInserter{vals: make([]driver.Value, 3+numValues+1)}, nil
}

func (a *appenderInserter) name() string { return "appender" }

func (a *appenderInserter) insert(_ context.Context, dc any, c *flowColumns) error {
	return appendTo(dc, "flows", c.len(), func(i int) []driver.Value {
		a.vals[0], a.vals[1], a.vals[2] = c.endMs[i], c.durMs[i], c.keyID[i]
		for j := range numValues {
			if narrowValue[j] {
				a.vals[3+j] = uint32(c.value(j, i))
			} else {
				a.vals[3+j] = int64(c.value(j, i))
			}
		}
		a.vals[3+numValues] = nil
		if h := c.hist(i); h != nil {
			a.vals[3+numValues] = h
		}
		return a.vals
	})
}

func (a *appenderInserter) close(any) error { return nil }
