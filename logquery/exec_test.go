package logquery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/flow"
	"github.com/flowlens/flowlens/internal/golden"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/store/duckdb"
	"github.com/flowlens/flowlens/topology"
)

// allTime covers every reference record (2014 to 2016).
var allTime = struct{ start, end time.Time }{time.Unix(1400000000, 0), time.Unix(1500000000, 0)}

// examplesStore holds the reference records of aws-semantics.md section
// 2 in group "vpc" (and the first two again in group "other").
func examplesStore(t testing.TB) *duckdb.Store {
	st := openStore(t)
	if n := insertRecords(t, st, "vpc", "testdata/examples.log"); n != 7 {
		t.Fatalf("%d records", n)
	}
	insertRecords(t, st, "other", "testdata/examples.log")
	return st
}

// execCases run over the reference records; results (rows and counts,
// without the elapsed time) are compared with testdata/exec.golden.
var execCases = []string{
	`fields @timestamp, @message`,
	`filter action="REJECT" | stats count(*) as n by srcAddr | sort n desc, srcAddr | limit 20`,
	`filter logStatus = "NODATA" or logStatus = "SKIPDATA" | fields @logStream, interfaceId, logStatus, srcAddr, ispresent(srcAddr) as hasSrc, @message`,
	`filter logStatus != "OK" | stats count(*) by logStatus | sort logStatus`,
	`filter ispresent(action) | stats count(*) as n by action | sort action`,
	`filter isIpv6InSubnet(srcAddr, "2001:db8:1234:a100::/56") | fields srcAddr, dstAddr, dstPort`,
	`filter isIpInSubnet(dstAddr, "2001:db8:1234:a102::/64") | fields dstAddr`,
	`filter isIpv6InSubnet(srcAddr, "2001:db8:1234:a200::/56") | fields srcAddr`,
	`filter isIpv4InSubnet(srcAddr, "172.31.16.0/20") | fields srcAddr, dstAddr | sort srcAddr, dstAddr`,
	`filter isIpInSubnet(srcAddr, "203.0.113.12/32") | fields srcAddr`,
	`filter isValidIpV6(srcAddr) | fields srcAddr, isValidIpV4(srcAddr) as v4, isValidIp(srcAddr) as any`,
	`filter isValidIpV4(srcAddr) | stats count(*) as v4`,
	`stats count(*) as records, sum(bytes) as bytes, sum(packets) as packets, count_distinct(interfaceId) as enis by bin(1d) | sort bin(1d)`,
	`stats count(*) as n by datefloor(@timestamp, 1d) as day | sort day desc`,
	`filter dstPort in [22, 3389] | fields srcAddr, dstPort, action | sort dstPort`,
	`filter dstPort not in [22, 3389] and ispresent(dstPort) | fields srcAddr, dstPort | sort srcAddr`,
	`filter srcAddr like "172.31.16" | fields srcAddr | sort srcAddr`,
	`filter interfaceId like /^eni-1{8}/ | fields interfaceId, logStatus`,
	`filter action =~ /ACC/ and protocol = 6 | fields srcAddr, dstPort`,
	`filter @message like "REJECT" | fields @message | sort @message`,
	`parse @message "* * * * * * * *" as version, account, eni, src, dst, srcport, dstport, rest | filter dstport = "22" | fields src, dst, dstport`,
	`parse @message /(?<src>\S+) (?<dst>\S+) (?<sport>\d+) (?<dport>\d+) 6 / | stats count(*) as n, sum(sport) as sumSport by dport | sort dport`,
	`fields bytes / packets as perPacket, bytes % 1000 as rem, 2 ^ 10 as k, -packets as neg, abs(-packets) as a | filter ispresent(perPacket) | sort perPacket desc | limit 3`,
	`fields concat(srcAddr, ":", srcPort) as src, strlen(interfaceId) as l, toupper(action) as up, substr(interfaceId, 4, 8) as id, replace(action, "ACC", "acc") as r, strcontains(srcAddr, "172") as c | filter ispresent(srcAddr) | sort src | limit 3`,
	`fields isempty(srcAddr) as e, isblank(action) as b, coalesce(srcAddr, "none") as s, greatest(srcPort, dstPort) as g, least(srcPort, dstPort) as l | sort s | limit 3`,
	`stats min(bytes), max(bytes), avg(bytes), pct(bytes, 50) as p50, stddev(bytes) as sd, earliest(srcAddr) as first, latest(srcAddr) as last by action | sort action`,
	`fields srcAddr, dstPort | sort srcAddr | dedup srcAddr`,
	`stats count(*) as n by srcAddr, action | stats count(*) as actions by srcAddr | filter actions > 1 | fields srcAddr`,
	`fields @timestamp, toMillis(@timestamp) as ms, fromMillis(1418530010000) as t | sort @timestamp | limit 1`,
	`filter @timestamp >= "2015-01-01T00:00:00Z" and @timestamp < "2016-01-01" | stats count(*)`,
	`sort bytes desc | limit 2 | fields srcAddr, bytes`,
	`fields @log, @logStream | dedup @logStream | sort @logStream`,
	"# comment line\nfilter `dstPort` = 22 # SSH\n| display srcAddr",
}

func TestExecGolden(t *testing.T) {
	st := examplesStore(t)
	e := NewEngine(st.DB(), testSources())
	var b strings.Builder
	for _, q := range execCases {
		res, err := e.Run(context.Background(), Request{Query: q, Groups: []string{"vpc"}, Start: allTime.start, End: allTime.end})
		if err != nil {
			t.Errorf("%s: %v", q, err)
			continue
		}
		writeResult(&b, q, res)
	}
	golden.Check(t, "exec.golden", b.String())
}

func writeResult(b *strings.Builder, q string, res *Result) {
	fmt.Fprintf(b, "query: %s\ncolumns: %q\n", q, res.Columns)
	for _, r := range res.Rows {
		j, _ := json.Marshal(r)
		fmt.Fprintf(b, "  %s\n", j)
	}
	s := res.Statistics
	fmt.Fprintf(b, "scanned %d, matched %d, bytes %d\n\n", s.RecordsScanned, s.RecordsMatched, s.BytesScanned)
}

// TestRangeAndGroups: the time range is inclusive at both ends and
// applies to @timestamp (start); groups select records.
func TestRangeAndGroups(t *testing.T) {
	st := examplesStore(t)
	e := NewEngine(st.DB(), testSources())
	count := func(groups []string, start, end int64) (int64, int64) {
		t.Helper()
		res, err := e.Run(context.Background(), Request{Query: `stats count(*) as n`, Groups: groups,
			Start: time.Unix(start, 0), End: time.Unix(end, 0)})
		if err != nil {
			t.Fatal(err)
		}
		return res.Rows[0][0].(int64), res.Statistics.RecordsScanned
	}
	for _, tc := range []struct {
		groups     []string
		start, end int64
		want       int64
	}{
		{[]string{"vpc"}, 1418530010, 1418530010, 2}, // both ends inclusive
		{[]string{"vpc"}, 1418530011, 1431280875, 0}, // between records
		{[]string{"vpc"}, 1418530070, 1418530070, 0}, // end is not @timestamp
		{[]string{"vpc", "other"}, 1400000000, 1500000000, 14},
		{[]string{"other"}, 1431280876, 1432917094, 4}, // NODATA, SKIPDATA, ping and reply
		{[]string{"nosuch"}, 1400000000, 1500000000, 0},
	} {
		n, scanned := count(tc.groups, tc.start, tc.end)
		if n != tc.want || scanned != tc.want {
			t.Errorf("%v [%d, %d]: count %d, scanned %d, want %d", tc.groups, tc.start, tc.end, n, scanned, tc.want)
		}
	}
	if _, err := e.Run(context.Background(), Request{Query: `stats count(*)`, Start: allTime.start, End: allTime.end}); err == nil {
		t.Error("no groups: no error")
	}
}

// TestDefaultLimit: without limit at most DefaultLimit rows come back,
// 10,000 as in Logs Insights (CWL_QuerySyntax-Limit), and a limit above
// the default is honoured.
func TestDefaultLimit(t *testing.T) {
	st := openStore(t)
	insertRecords(t, st, "vpc", "testdata/examples.log")
	if _, err := st.DB().Exec(`INSERT INTO flowlog_records_all (log_group, log_stream, file_id, format_id, start, action, event_time)
		SELECT 'big', 'eni-x', 1, 1, 1418530000 + i, 'ACCEPT', 1418530000 + i FROM range(10500) t(i)`); err != nil {
		t.Fatal(err)
	}
	e := NewEngine(st.DB(), testSources())
	for q, want := range map[string]int{`fields start`: DefaultLimit, `fields start | limit 10200`: 10200, `fields start | limit 100000`: 10500, `stats count(*) by start`: DefaultLimit,
		`fields start | limit 5 | filter start > 0`: 5} {
		res, err := e.Run(context.Background(), Request{Query: q, Groups: []string{"big"}, Start: allTime.start, End: allTime.end})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Rows) != want || res.Statistics.RecordsScanned != 10500 {
			t.Errorf("%s: %d rows, scanned %d; want %d, 10500", q, len(res.Rows), res.Statistics.RecordsScanned, want)
		}
	}
}

// TestFlowsSource queries the agent's flows written through the flow
// store itself.
func TestFlowsSource(t *testing.T) {
	st := openStore(t)
	end := writeTestFlows(t, st)
	e := NewEngine(st.DB(), testSources())
	var b strings.Builder
	for _, q := range []string{
		`sort bytesSent desc`,
		`filter category = "inter-zone" | stats sum(retransmissions) as r, sum(bytesSent) as sent, avg(rttAvg) as rtt by localZone, remoteZone`,
		`filter isIpv4InSubnet(remoteAddr, "10.0.2.0/24") or isIpv6InSubnet(remoteAddr, "fd00:1::/32") | fields remoteAddr, port, direction, localKind, remoteKind, rttMin, rttMax, @logStream, @log | sort port`,
		`stats count(*) as n by bin(1m), hostId`,
	} {
		res, err := e.Run(context.Background(), Request{Query: q, Groups: []string{FlowsGroup},
			Start: end.Add(-time.Minute), End: end})
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		writeResult(&b, q, res)
	}
	golden.Check(t, "flows.golden", b.String())
}

// TestMissingFieldIsNullInResults: over stored records, a field the group
// does not have is an empty column and matches nothing, with a hint in
// the result's warnings; the query is not refused (Logs Insights).
func TestMissingFieldIsNullInResults(t *testing.T) {
	st := examplesStore(t)
	e := NewEngine(st.DB(), testSources())
	for _, tc := range []struct {
		query   string
		rows    int
		warning string
	}{
		{`fields srcAddr, k8sPodName | filter ispresent(srcAddr)`, 5, `field "k8sPodName" is in no record`},
		{`filter srcAdr = "172.31.16.139"`, 0, `did you mean "srcAddr"?`},
		{`filter not ispresent(nosuch) | stats count(*) as n`, 1, `field "nosuch"`},
	} {
		res, err := e.Run(context.Background(), Request{Query: tc.query, Groups: []string{"vpc"}, Start: allTime.start, End: allTime.end})
		if err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		if len(res.Rows) != tc.rows {
			t.Errorf("%s: %d rows, want %d", tc.query, len(res.Rows), tc.rows)
		}
		if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], tc.warning) {
			t.Errorf("%s: warnings %q, want one containing %q", tc.query, res.Warnings, tc.warning)
		}
		for _, row := range res.Rows {
			if len(row) == 2 && row[1] != nil {
				t.Errorf("%s: missing field has value %v", tc.query, row[1])
			}
		}
		if strings.HasPrefix(tc.query, "filter not") && res.Rows[0][0] != int64(7) {
			t.Errorf("%s: %v, want every record (7)", tc.query, res.Rows[0][0])
		}
	}
}

// writeTestFlows writes three agent flows through the flow store, ending
// at the returned time.
func writeTestFlows(t *testing.T, st *duckdb.Store) time.Time {
	t.Helper()
	end := time.Unix(1_790_000_000, 0)
	row := func(local, remote string, port uint16, dir flow.Direction, sent, retrans uint64, cat topology.Category, lz, rz string) store.FlowRow {
		r := store.FlowRow{Start: end.Add(-30 * time.Second), End: end, AgentID: "agent-1", HostID: "host-1",
			Local:  topology.Location{Kind: topology.KindSubnet, Region: "r1", Zone: lz, Subnet: "s-" + lz},
			Remote: topology.Location{Kind: topology.KindSubnet, Region: "r1", Zone: rz}, Category: cat}
		r.Key = flow.Key{LocalIP: netip.MustParseAddr(local), RemoteIP: netip.MustParseAddr(remote), Port: port, Direction: dir, Protocol: 6}
		r.Counters.BytesSent, r.Counters.Retransmissions = sent, retrans
		r.Counters.RTT.Observe(1000)
		r.Counters.RTT.Observe(3000)
		return r
	}
	batch := &store.Batch{AgentID: "agent-1", Sequence: 1, Rows: []store.FlowRow{
		row("10.0.1.10", "10.0.2.10", 443, flow.DirectionClient, 1000, 5, topology.CategoryInterZone, "a", "b"),
		row("10.0.1.10", "10.0.1.11", 5432, flow.DirectionClient, 500, 0, topology.CategoryIntraZone, "a", "a"),
		row("fd00::10", "fd00:1::10", 22, flow.DirectionServer, 42, 1, topology.CategoryInterZone, "a", "b"),
	}}
	if _, err := st.Write(context.Background(), []*store.Batch{batch}); err != nil {
		t.Fatal(err)
	}
	return end
}

// TestQuerySpansSourcesAndSourceCommand: one query reads a flow-log group
// and flowlens/flows together, each record with the fields its source
// has and null for the others (Logs Insights: a field an event lacks is
// empty); SOURCE logGroups(namePrefix: [...]) selects groups by name
// prefix, logGroups() every group (CWL_QuerySyntax-Source).
func TestQuerySpansSourcesAndSourceCommand(t *testing.T) {
	st := examplesStore(t)
	end := writeTestFlows(t, st)
	e := NewEngine(st.DB(), testSources())
	var b strings.Builder
	for _, tc := range []struct {
		query  string
		groups []string
	}{
		{`stats count(*) as n by @log | sort @log`, []string{"vpc", FlowsGroup}},
		{`filter srcAddr = "172.31.16.139" or port = 443 | fields @log, srcAddr, remoteAddr, port, action | sort @log`, []string{"vpc", FlowsGroup}},
		{`stats sum(bytes) as b, sum(bytesSent) as sent by @log | sort @log`, []string{FlowsGroup, "vpc", "other"}},
		{`SOURCE logGroups(namePrefix: ['vp', 'flowlens/']) | stats count(*) as n by @log | sort @log`, nil},
		{`SOURCE logGroups() | stats count(*) as n by @log | sort @log`, nil},
		{`source logGroups(namePrefix: ["oth"]) | filterIndex action = "REJECT" | stats count(*) as n by @log | sort @log`, []string{"vpc"}},
	} {
		res, err := e.Run(context.Background(), Request{Query: tc.query, Groups: tc.groups, Start: allTime.start, End: end})
		if err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		writeResult(&b, tc.query, res)
	}
	golden.Check(t, "span.golden", b.String())
	if _, err := e.Run(context.Background(), Request{Query: `SOURCE logGroups(namePrefix: ['nosuch']) | stats count(*)`, Start: allTime.start, End: end}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("SOURCE matching nothing: %v, want ErrBadRequest", err)
	}
}
