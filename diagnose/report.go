package diagnose

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"net/netip"
	"strconv"
	"time"
)

// Report is the answer of `flowlens diagnose rejects --output json` and of
// GET /api/v1/diagnose/rejects.
type Report struct {
	Records  int64   `json:"records"`
	Rejects  int64   `json:"rejects"`
	BadLines int64   `json:"bad_lines"`
	Seconds  float64 `json:"seconds"`
	Causes   []Cause `json:"causes"`
	// Truncated: an aggregated query returned GroupRowLimit rows, so the
	// counts cover only the most frequent tuples of the range.
	Truncated bool `json:"truncated,omitempty"`
}

// GroupRowLimit is the query language's largest limit: each of the two
// aggregated queries of RejectsFromLogs returns at most this many
// distinct tuples.
const GroupRowLimit = 10000

// LogQuerier runs a Logs Insights query over one log group and returns
// its columns and rows (the query API through the CLI's client, or the
// server's query engine). Row values are strings, json.Number or Go
// numbers.
type LogQuerier interface {
	Query(ctx context.Context, query, group string, start, end time.Time) (columns []string, rows [][]any, err error)
}

// RejectsFromLogs reads a log group's records over [start, end) through q
// (the REJECT records and the ACCEPT records, each aggregated per tuple by
// `stats count(*) by ...`, so only distinct tuples travel), then pairs,
// explains and groups them as Causes does. The CLI (--group with a local
// configuration) and the server's API share it, so both answer alike for
// the same records. Times are taken to the second, as the query API does.
func RejectsFromLogs(ctx context.Context, q LogQuerier, m *Model, group string, start, end time.Time, workers int) (*Report, error) {
	t0 := time.Now()
	start, end = time.Unix(start.Unix(), 0), time.Unix(end.Unix(), 0)
	rep := &Report{}
	gr := NewGrouper(m, maphash.MakeSeed())
	for _, action := range []string{"REJECT", "ACCEPT"} {
		by := "srcAddr, dstAddr, srcPort, dstPort, protocol"
		if action == "REJECT" {
			by = "interfaceId, " + by
		}
		text := fmt.Sprintf(`filter action = %q | stats count(*) as records by %s | sort records desc | limit %d`, action, by, GroupRowLimit)
		cols, rows, err := q.Query(ctx, text, group, start, end)
		if err != nil {
			return nil, fmt.Errorf("query %s records of %s: %w", action, group, err)
		}
		if len(rows) >= GroupRowLimit {
			rep.Truncated = true
		}
		col := map[string]int{}
		for i, c := range cols {
			col[c] = i
		}
		for _, row := range rows {
			r, n, ok := recordFromRow(row, col, action == "ACCEPT")
			if !ok || !gr.AddCount(r, n) { // unparsable, or a port or protocol out of range
				rep.BadLines++
				continue
			}
			rep.Records += n
			if !r.Accept {
				rep.Rejects += n
			}
		}
	}
	var err error
	if rep.Causes, err = gr.Causes(workers); err != nil {
		return nil, err
	}
	if rep.Causes == nil {
		rep.Causes = []Cause{}
	}
	rep.Seconds = time.Since(t0).Seconds()
	return rep, nil
}

// recordFromRow reads one row of the aggregated queries.
func recordFromRow(row []any, col map[string]int, accept bool) (Record, int64, bool) {
	str := func(name string) string {
		i, ok := col[name]
		if !ok || i >= len(row) {
			return ""
		}
		switch v := row[i].(type) {
		case string:
			return v
		case json.Number:
			return v.String()
		case int64:
			return strconv.FormatInt(v, 10)
		case int:
			return strconv.Itoa(v)
		case float64:
			if v == float64(int64(v)) {
				return strconv.FormatInt(int64(v), 10)
			}
		}
		return ""
	}
	num := func(name string) (int64, bool) {
		n, err := strconv.ParseInt(str(name), 10, 64)
		return n, err == nil
	}
	r := Record{Interface: str("interfaceId"), Accept: accept}
	var err1, err2 error
	r.Src, err1 = netip.ParseAddr(str("srcAddr"))
	r.Dst, err2 = netip.ParseAddr(str("dstAddr"))
	sp, ok1 := num("srcPort")
	dp, ok2 := num("dstPort")
	proto, ok3 := num("protocol")
	n, ok4 := num("records")
	if err1 != nil || err2 != nil || !ok1 || !ok2 || !ok3 || !ok4 {
		return r, 0, false
	}
	r.SrcPort, r.DstPort, r.Protocol = int(sp), int(dp), int(proto)
	return r, n, true
}
