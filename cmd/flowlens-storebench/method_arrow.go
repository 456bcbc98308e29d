//go:build !no_duckdb_arrow

package main

// insertMethod names the store's bulk insert path in this build.
const insertMethod = "arrow"
