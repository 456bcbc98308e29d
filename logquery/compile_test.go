package logquery

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/internal/golden"
	"github.com/flowlens/flowlens/store/duckdb"
	"github.com/flowlens/flowlens/store/duckdb/flowlogs"
)

var testRange = Range{Groups: []string{"vpc-a", "vpc-b"}, Start: time.Unix(1418530000, 0), End: time.Unix(1477913820, 0)}

func testFlowLogSource() *Source { return flowlogs.RecordsSource(map[int][]string{1: defaultFields()}) }

// compileCases are compiled against the flow-log source (or the flows
// source when the name starts with "flows-") and compared with
// testdata/compile/<name>.golden.
var compileCases = []struct{ name, query string }{
	{"default", `filter action = "REJECT"`},
	{"acceptance-top-rejected", `filter action="REJECT" | stats count(*) as n by srcAddr | sort n desc | limit 20`},
	{"fields-as", `fields @timestamp, srcAddr as source, bytes / packets as perPacket | sort perPacket desc`},
	{"display-last-wins", `fields srcAddr, dstAddr, bytes | display dstAddr | display srcAddr, bytes`},
	{"comments-backticks", "# rejected SSH\nfilter `dstPort` = 22 # port\n| fields `srcAddr`"},
	{"operators", `filter (bytes + 1) * 2 - packets / 3 >= 10 ^ 2 % 7 and not (srcPort < 1024 or srcPort > 65000) and dstPort != 0`},
	{"mixed-types", `filter dstPort = "22" and srcAddr != 5 and action in ["ACCEPT", "REJECT"] and srcPort not in [0, 80]`},
	{"like", `filter srcAddr like "172.31." and interfaceId not like /eni-1{2}/ and action =~ /^REJ/`},
	{"stats-bin", `stats count(*), sum(bytes) as total by bin(5m), action | sort total desc`},
	{"stats-all-aggregates", `stats count(), count(srcAddr), count_distinct(dstAddr), sum(bytes), avg(bytes), min(start), max(end), pct(bytes, 95), stddev(packets), earliest(srcAddr), latest(srcAddr), sortsFirst(action), sortsLast(action) by logStatus`},
	{"stats-expression", `stats sum(bytes) / count(*) as avgBytes by interfaceId`},
	{"stats-twice", `stats count(*) as n by srcAddr, dstAddr | stats count(*) as peers, sum(n) as records by srcAddr | sort peers desc | limit 5`},
	{"after-stats", `stats sum(bytes) as b by srcAddr | filter b > 1000 | fields b * 8 as bits, srcAddr | sort bits desc`},
	{"sort-limit-filter", `sort bytes desc | limit 100 | filter action = "ACCEPT" | fields srcAddr, bytes`},
	{"parse-glob", `parse @message "* * eni-* * *" as version, account, eni, src, rest | filter ispresent(src) | fields eni, src`},
	{"parse-regex", `parse @message /(?<account>\d{12}) (?<eni>eni-[0-9a-f]+)/ | stats count(*) by eni`},
	{"dedup", `fields srcAddr, dstAddr, bytes | sort bytes desc | dedup srcAddr`},
	{"dedup-default-order", `dedup srcAddr, dstPort`},
	{"string-functions", `fields concat(srcAddr, ":", srcPort) as src, strlen(interfaceId) as l, toupper(action), tolower(logStatus), substr(interfaceId, 4, 8) as id, replace(action, "ACC", "acc") as r, ltrim(interfaceId, "e"), rtrim(action), trim(action), strcontains(srcAddr, "172") as c, isempty(srcAddr), isblank(dstAddr), coalesce(srcAddr, "none") as s2`},
	{"number-functions", `fields abs(srcPort - dstPort) as d, ceil(bytes / 3), floor(bytes / 3), log(bytes), sqrt(bytes), greatest(srcPort, dstPort) as g, least(srcPort, dstPort, 5) as l`},
	{"time-functions", `fields datefloor(@timestamp, 1h) as h, dateceil(@timestamp, 1d) as d, toMillis(@timestamp) as ms, fromMillis(end * 1000) as e | filter @timestamp >= "2014-12-14T00:00:00Z"`},
	{"ip-functions", `filter isValidIp(srcAddr) and isValidIpV4(dstAddr) or isValidIpV6(srcAddr) | fields srcAddr`},
	{"subnets", `filter isIpv4InSubnet(srcAddr, "172.31.0.0/16") or isIpInSubnet(dstAddr, "2001:db8:1234:a100::/56") or isIpv6InSubnet(srcAddr, "2001:db8::/32") | fields srcAddr`},
	{"meta-fields", `fields @log, @logStream, @message | filter @logStream like "eni-"`},
	{"limit-then-stats", `limit 10 | stats count(*)`},
	// CWL_QuerySyntax-Unnest and CWL_QuerySyntax-operations-functions
	// (structure types, JSON functions).
	{"json-unnest", `filter action = "REJECT" | fields jsonParse(@message) as js | unnest js.events into e | filter e.name = "x" and e.tags[0] > 1 | stats count(*) as n by e.type | sort n desc`},
	{"json-functions", "fields jsonParse(@message) as js | fields jsonStringify(js.a) as s, js.`b.c`[2].d as d, toupper(js.e) as up | unnest srcAddr into a"},
	{"flows-default", `filter retransmissions > 0`},
	{"flows-top", `filter category = "inter-zone" | stats sum(retransmissions) as r, avg(rttAvg) by localZone, remoteZone | sort r desc | limit 10`},
	{"flows-subnet", `filter isIpv4InSubnet(remoteAddr, "10.1.0.0/16") | fields @timestamp, localAddr, remoteAddr, port, bytesSent`},
	{"flows-no-join", `stats sum(bytesSent) as sent by bin(1m)`},
}

func TestCompileGolden(t *testing.T) {
	for _, tc := range compileCases {
		t.Run(tc.name, func(t *testing.T) {
			src, r := testFlowLogSource(), testRange
			if strings.HasPrefix(tc.name, "flows-") {
				src, r = duckdb.FlowsSource(), Range{Start: testRange.Start, End: testRange.End}
			}
			q, err := Parse(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			c, err := Compile(q, src, r)
			if err != nil {
				t.Fatal(err)
			}
			checkPlaceholders(t, c.SQL, c.Args)
			checkPlaceholders(t, c.ScannedSQL, c.ScannedArgs)
			checkPlaceholders(t, c.MatchedSQL, c.MatchedArgs)
			var b strings.Builder
			fmt.Fprintf(&b, "query: %s\ncolumns: %q\nkinds: %v\nrow bytes: %d\n\nsql:\n%s\nargs: %s\n\nscanned:\n%s\nargs: %s\n\nmatched:\n%s\nargs: %s\n",
				tc.query, c.Columns, c.Kinds, c.RowBytes, c.SQL, fmtArgs(c.Args), c.ScannedSQL, fmtArgs(c.ScannedArgs), c.MatchedSQL, fmtArgs(c.MatchedArgs))
			golden.Check(t, "compile/"+tc.name+".golden", b.String())
		})
	}
}

// checkPlaceholders: one argument per "?" outside quoted SQL text.
func checkPlaceholders(t *testing.T, sql string, args []any) {
	t.Helper()
	n, inStr := 0, false
	for _, r := range sql {
		switch {
		case r == '\'':
			inStr = !inStr
		case r == '?' && !inStr:
			n++
		}
	}
	if n != len(args) {
		t.Errorf("%d placeholders, %d arguments", n, len(args))
	}
}

func fmtArgs(args []any) string {
	parts := make([]string, len(args))
	for i, a := range args {
		if s, ok := a.(string); ok && len(s) > 60 {
			a = s[:57] + "..."
		}
		parts[i] = fmt.Sprintf("%#v", a)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func TestErrorsGolden(t *testing.T) {
	bad := []string{
		``,
		`   # only a comment`,
		`fields`,
		`filter`,
		`stats count(*) by`,
		`select * from flowlog_records`,
		`filter action = "REJECT`,
		"fields `srcAddr",
		`filter action = "REJECT" |`,
		`filter action = "REJECT" | | limit 1`,
		"fields srcAddr\n| filter dstPort = \n| limit 5",
		`limit 0`,
		`limit 100001`,
		`display bytes * 8`,
		`limit abc`,
		`sort`,
		`filter x like`,
		`filter srcAddr =~ "abc"`,
		`filter srcAddr like /abc`,
		`filter srcAddr in [1, 2`,
		`filter srcAddr not between 1`,
		`stats count(*) by bin(5 m)`,
		`stats count(*) by bin(5mo)`,
		`stats count(*) by bin(1.5m)`,
		`parse @message "*" as`,
		`parse @message`,
		`fields a,`,
		`filter (bytes > 1`,
		`fields concat(a b)`,
		`fields 1 +`,
		`fields srcAddr as`,
		`fields srcAddr as and`,
		`filter a ! b`,
		`fields ☃`,
		`fields count(*)`,
		`stats srcAddr`,
		`stats count(*) + bytes`,
		`stats sum(count(*))`,
		`stats count(*) by bin(5)`,
		`stats bin(5m)`,
		`fields nosuch(srcAddr)`,
		`fields abs()`,
		`fields substr(srcAddr)`,
		`filter srcAddr`,
		`filter action like /(?<x/`,
		`parse @message /(\d+)/`,
		`parse @message "* *" as a`,
		`parse @message "no stars" as a`,
		`parse @message "* *" as a, a`,
		`filter isIpv4InSubnet(srcAddr, "10.0.0.0/33")`,
		`filter isIpv4InSubnet(srcAddr, "2001:db8::/32")`,
		`filter isIpv6InSubnet(srcAddr, "10.0.0.0/8")`,
		`filter isIpInSubnet(srcAddr, dstAddr)`,
		`filter srcAddr in [dstAddr]`,
		`stats pct(bytes, 101)`,
		`stats pct(bytes, "p")`,
		`filter @timestamp > "yesterday"`,
		`fields 5m`,
		`fields /re/`,
		`fields sum(*)`,
		"fields srcAddr\n\n  | filter dstAddr  =  ",
		`filter ` + strings.Repeat("(", 200) + `1` + strings.Repeat(")", 200),
	}
	var b strings.Builder
	for _, q := range bad {
		_, err := compileString(q)
		fmt.Fprintf(&b, "%q\n  -> %v\n", q, err)
		if err == nil {
			t.Errorf("%q: no error", q)
			continue
		}
		if _, ok := err.(*Error); !ok {
			t.Errorf("%q: %T is not *Error", q, err)
		}
	}
	golden.Check(t, "errors.golden", b.String())
}

func compileString(q string) (*Compiled, error) {
	p, err := Parse(q)
	if err != nil {
		return nil, err
	}
	return Compile(p, testFlowLogSource(), testRange)
}

// TestMissingFieldsAreNullWithHints: a field the groups do not have is not
// an error but empty (null) for every record, as in Logs Insights ("did
// you mean" is a warning of the result); the SQL reads a typed NULL.
func TestMissingFieldsAreNullWithHints(t *testing.T) {
	cases := []string{
		`filter srcAdr = "x"`,
		`fields nosuch, srcAddr | sort nosuch desc`,
		`filter srcAddr = 1 | stats count(*) by srcAddr | filter srcPort > 1`,
		`stats count(*) | fields srcAddr`,
		`display nosuch`,
		`stats count(*) as n | display srcAddr`,
		`stats count(*) by tgwId | filter ispresent(tgwId)`,
		`fields concat(nosuch, "x") as c, nosuch + 1 as n | dedup nosuch`,
	}
	var b strings.Builder
	for _, q := range cases {
		c, err := compileString(q)
		if err != nil {
			t.Errorf("%q: %v", q, err)
			continue
		}
		checkPlaceholders(t, c.SQL, c.Args)
		fmt.Fprintf(&b, "%q\n  columns: %q\n", q, c.Columns)
		for _, w := range c.Warnings {
			fmt.Fprintf(&b, "  warning: %s\n", w)
		}
		fmt.Fprintf(&b, "  sql: %s\n", c.SQL)
	}
	golden.Check(t, "missing-fields.golden", b.String())
}
