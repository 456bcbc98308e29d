package store

import "github.com/flowlens/flowlens/metricstore"

// Backend is everything one store implementation gives the server: the
// flow store (ingest writes, insights read, maintenance), the component
// database features keep their tables in, and the metric points. The
// command opens the store chosen by --store (store/duckdb.OpenBackend
// today) and hands the server its Backend; the server and the features
// see only these interfaces. Closing Flows releases the whole backend.
type Backend struct {
	Flows   Store
	DB      ComponentDB
	Metrics metricstore.Store
}
