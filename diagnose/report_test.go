package diagnose

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fakeLogs answers the two aggregated queries with fixed rows, keeping
// what it was asked.
type fakeLogs struct {
	reject, accept [][]any
	queries        []string
	ranges         [][2]time.Time
	err            error
}

func (f *fakeLogs) Query(_ context.Context, query, _ string, start, end time.Time) ([]string, [][]any, error) {
	f.queries = append(f.queries, query)
	f.ranges = append(f.ranges, [2]time.Time{start, end})
	if f.err != nil {
		return nil, nil, f.err
	}
	if strings.Contains(query, `"REJECT"`) {
		return []string{"interfaceId", "srcAddr", "dstAddr", "srcPort", "dstPort", "protocol", "records"}, f.reject, nil
	}
	return []string{"srcAddr", "dstAddr", "srcPort", "dstPort", "protocol", "records"}, f.accept, nil
}

// TestRejectsFromLogsReadsEveryValueKind: rows from the query API
// (json.Number, strings) and from the engine (int64, float64) count alike;
// unparsable rows are bad lines; times are cut to the second.
func TestRejectsFromLogsReadsEveryValueKind(t *testing.T) {
	m := loadScenario(t, "")
	ifc := eniWeb1
	rows := map[string][]any{
		"json.Number": {ifc, "192.0.2.9", web1, json.Number("40000"), json.Number("22"), json.Number("6"), json.Number("5")},
		"int64":       {ifc, "192.0.2.9", web1, int64(40000), int64(22), int64(6), int64(5)},
		"float64":     {ifc, "192.0.2.9", web1, float64(40000), float64(22), float64(6), float64(5)},
		"string":      {ifc, "192.0.2.9", web1, "40000", "22", "6", "5"},
	}
	for name, row := range rows {
		t.Run(name, func(t *testing.T) {
			f := &fakeLogs{reject: [][]any{row, {ifc, "not-an-address", "10.0.1.10", 1, 2, 6, 1}}}
			start := time.Unix(1000, 500)
			rep, err := RejectsFromLogs(context.Background(), f, m, "g", start, start.Add(time.Hour), 1)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Records != 5 || rep.Rejects != 5 || rep.BadLines != 1 || len(rep.Causes) != 1 || rep.Causes[0].Records != 5 {
				t.Errorf("report %+v", rep)
			}
			if len(f.queries) != 2 || f.ranges[0][0] != time.Unix(1000, 0) {
				t.Errorf("queries %q ranges %v", f.queries, f.ranges)
			}
		})
	}
}

// TestRejectsFromLogsTruncatedAndErrors: a query that returns the row
// limit marks the report truncated; a failing query names the action and
// the group.
func TestRejectsFromLogsTruncatedAndErrors(t *testing.T) {
	m := loadScenario(t, "")
	full := make([][]any, GroupRowLimit)
	for i := range full {
		full[i] = []any{"10.0.1.10", "192.0.2.9", int64(22), int64(40000 + i%20000), int64(6), int64(1)}
	}
	rep, err := RejectsFromLogs(context.Background(), &fakeLogs{accept: full}, m, "g", time.Unix(0, 0), time.Unix(60, 0), 1)
	if err != nil || !rep.Truncated || rep.Causes == nil {
		t.Errorf("report %+v, err %v", rep, err)
	}
	_, err = RejectsFromLogs(context.Background(), &fakeLogs{err: errors.New("boom")}, m, "vpc-a", time.Unix(0, 0), time.Unix(60, 0), 1)
	if err == nil || !strings.Contains(err.Error(), "REJECT records of vpc-a") {
		t.Errorf("error %v", err)
	}
}

// TestPathParamsQuery: the parameters of the CLI and the API are checked
// alike, each error naming its parameter.
func TestPathParamsQuery(t *testing.T) {
	ok := PathParams{Src: "10.0.1.10", Dst: "10.0.2.20", Protocol: "tcp", DstPort: 443, SrcPort: -1, ICMPType: -1, ICMPCode: -1}
	q, err := ok.Query("--")
	if err != nil || q.Protocol != 6 || q.DstPort != 443 || q.SrcPort != -1 {
		t.Fatalf("query %+v, err %v", q, err)
	}
	for _, tc := range []struct {
		change func(*PathParams)
		want   string
	}{
		{func(p *PathParams) { p.Src = "10.0.1" }, "--src"},
		{func(p *PathParams) { p.Dst = "" }, "--dst"},
		{func(p *PathParams) { p.Protocol = "tcpx" }, "--protocol"},
		{func(p *PathParams) { p.DstPort = -1 }, "--dst-port is required"},
		{func(p *PathParams) { p.DstPort = 65536 }, "--dst-port 65536"},
		{func(p *PathParams) { p.SrcPort = -2 }, "--src-port -2"},
		{func(p *PathParams) { p.Protocol, p.ICMPType = "icmp", 256 }, "--icmp-type 256"},
		{func(p *PathParams) { p.Protocol, p.ICMPCode = "icmp", 300 }, "--icmp-code 300"},
	} {
		p := ok
		tc.change(&p)
		_, err := p.Query("--")
		if !errors.Is(err, ErrQuery) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", p, err, tc.want)
		}
	}
	icmp := PathParams{Src: "10.0.1.10", Dst: "10.0.2.20", Protocol: "icmp", DstPort: -1, SrcPort: -1, ICMPType: -1, ICMPCode: -1}
	if q, err := icmp.Query(""); err != nil || !reflect.DeepEqual(q.Protocol, 1) {
		t.Errorf("icmp without port: %+v %v", q, err)
	}
}
