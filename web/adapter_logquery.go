package web

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/flowlens/flowlens/flowlog/importer"
	"github.com/flowlens/flowlens/logquery"
)

// QueryEngine is the query-language module's engine (logquery.Engine):
// the page runs queries on it, under the same slots and timeout as the
// API.
type QueryEngine interface {
	Run(ctx context.Context, req logquery.Request) (*logquery.Result, error)
}

// FlowLogImporter is the flow-log module: its importer (nil before it
// starts) lists the groups.
type FlowLogImporter interface {
	Importer() *importer.Importer
}

type flowlogPages struct {
	engine QueryEngine
	lister FlowLogImporter // nil: no flow-log module, only the agent's flows
}

func flowlogAdapter(q QueryEngine, f FlowLogImporter) flowlogsAPI {
	if q == nil {
		return nil
	}
	return flowlogPages{engine: q, lister: f}
}

// groups lists the agent's flows first, then the flow-log groups.
func (p flowlogPages) groups(ctx context.Context) ([]string, error) {
	out := []string{logquery.FlowsGroup}
	if p.lister == nil || p.lister.Importer() == nil {
		return out, nil
	}
	gs, err := p.lister.Importer().Groups(ctx)
	for _, g := range gs {
		out = append(out, g.Name)
	}
	return out, err
}

func (p flowlogPages) query(ctx context.Context, group, text string, start, end time.Time) (*queryResult, error) {
	res, err := p.engine.Run(ctx, logquery.Request{Query: text, Groups: []string{group}, Start: start, End: end})
	if err != nil {
		return nil, err
	}
	out := &queryResult{Fields: res.Columns, Rows: make([][]string, len(res.Rows)),
		Scanned: res.Statistics.RecordsScanned, Matched: res.Statistics.RecordsMatched, Bytes: res.Statistics.BytesScanned,
		Elapsed:  time.Duration(res.Statistics.ElapsedMs * float64(time.Millisecond)).Round(time.Microsecond),
		Warnings: res.Warnings}
	for i, row := range res.Rows {
		cells := make([]string, len(row))
		for j, v := range row {
			cells[j] = cellText(v)
		}
		out.Rows[i] = cells
	}
	return out, nil
}

func cellText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case string:
		return x
	}
	return fmt.Sprint(v)
}
