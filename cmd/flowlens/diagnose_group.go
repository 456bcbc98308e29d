package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/apiclient"
	"github.com/flowlens/flowlens/diagnose"
	"github.com/flowlens/flowlens/insights"
)

// groupRowLimit is the query language's largest limit: each of the two
// aggregated queries returns at most this many distinct tuples.
const groupRowLimit = 10000

// groupFromServer reads a log group's records through the query API: the
// REJECT records and the ACCEPT records, each aggregated per tuple by the
// server (stats count(*) by ...), so only distinct tuples travel.
func groupFromServer(cmd *cobra.Command, g *globals, m *diagnose.Model, group string, since time.Duration, start, end string, rep *rejectsReport) (*diagnose.Grouper, error) {
	now := time.Now()
	t1 := now
	var err error
	if end != "" {
		if t1, err = insights.ParseTime(end); err != nil {
			return nil, fmt.Errorf("--end: %w", err)
		}
	}
	t0 := t1.Add(-since)
	if start != "" {
		if t0, err = insights.ParseTime(start); err != nil {
			return nil, fmt.Errorf("--start: %w", err)
		}
	}
	gr := diagnose.NewGrouper(m, seedForCLI())
	for _, action := range []string{"REJECT", "ACCEPT"} {
		by := "srcAddr, dstAddr, srcPort, dstPort, protocol"
		if action == "REJECT" {
			by = "interfaceId, " + by
		}
		q := fmt.Sprintf(`filter action = %q | stats count(*) as records by %s | sort records desc | limit %d`, action, by, groupRowLimit)
		res, err := g.client().Query(cmd.Context(), apiclient.QueryRequest{Query: q, LogGroups: []string{group}, Start: t0.Unix(), End: t1.Unix()})
		if err != nil {
			return nil, fmt.Errorf("query %s records of %s: %w", action, group, err)
		}
		if len(res.Rows) >= groupRowLimit {
			rep.Truncated = true
		}
		col := map[string]int{}
		for i, c := range res.Columns {
			col[c] = i
		}
		for _, row := range res.Rows {
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
	return gr, nil
}

func recordFromRow(row []any, col map[string]int, accept bool) (diagnose.Record, int64, bool) {
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
		}
		return ""
	}
	num := func(name string) (int64, bool) {
		n, err := strconv.ParseInt(str(name), 10, 64)
		return n, err == nil
	}
	r := diagnose.Record{Interface: str("interfaceId"), Accept: accept}
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
