package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// QueryRequest is the body of POST /api/v1/query; start and end are Unix
// seconds.
type QueryRequest struct {
	Query     string   `json:"query"`
	LogGroups []string `json:"log_groups"`
	Start     int64    `json:"start"`
	End       int64    `json:"end"`
}

// QueryStatistics are a query's work figures.
type QueryStatistics struct {
	RecordsScanned int64   `json:"records_scanned"`
	RecordsMatched int64   `json:"records_matched"`
	BytesScanned   int64   `json:"bytes_scanned"`
	ElapsedMs      float64 `json:"elapsed_ms"`
}

// QueryResult is the answer of POST /api/v1/query. Rows are decoded with
// json.Number for numbers, so integers print exactly.
type QueryResult struct {
	Columns    []string        `json:"columns"`
	Rows       [][]any         `json:"rows"`
	Statistics QueryStatistics `json:"statistics"`
	// Warnings are hints that did not stop the query (a field no record
	// has, with the closest known name).
	Warnings []string `json:"warnings,omitempty"`
}

// QueryError is a 400 answer naming the line and column of the problem in
// the query text (zero when the problem is elsewhere).
type QueryError struct {
	Message string
	Line    int
	Column  int
}

func (e *QueryError) Error() string { return e.Message }

// Query runs a Logs Insights query on the server.
func (c *Client) Query(ctx context.Context, req QueryRequest) (*QueryResult, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+"/api/v1/query", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	if c.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the FlowLens server at %s (set --server or FLOWLENS_SERVER): %w", c.Base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error  string `json:"error"`
			Line   int    `json:"line"`
			Column int    `json:"column"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		if resp.StatusCode == http.StatusBadRequest {
			return nil, &QueryError{Message: e.Error, Line: e.Line, Column: e.Column}
		}
		if resp.StatusCode == http.StatusUnauthorized && c.Token == "" {
			e.Error += " (no token given: set FLOWLENS_TOKEN or --token)"
		}
		return nil, &Error{Status: resp.StatusCode, Message: e.Error}
	}
	var out QueryResult
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("decode answer of /api/v1/query: %w", err)
	}
	return &out, nil
}
