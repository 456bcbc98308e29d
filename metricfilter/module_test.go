package metricfilter

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/flowlens/flowlens/internal/golden"
	"github.com/flowlens/flowlens/metricstore"
	"github.com/flowlens/flowlens/store/duckdb"
)

func readLines(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// renderTest is the text form of a test run (as golden files keep it).
func renderTest(resp TestResponse) string {
	var b strings.Builder
	for _, r := range resp.Results {
		mark := "-"
		if r.Matched {
			mark = "MATCH"
		}
		val := ""
		if r.Value != nil {
			val = fmt.Sprint(*r.Value)
		}
		fmt.Fprintf(&b, "%d %s value=%s dims=%v err=%q\n", r.Line, mark, val, r.Dimensions, r.Error)
	}
	fmt.Fprintf(&b, "matched %d of %d\n", resp.Matched, resp.Total)
	return b.String()
}

func TestRunTestGolden(t *testing.T) {
	lines := readLines(t, "testdata/flowlogs.log")
	zero := 0.0
	cases := []struct {
		name string
		req  TestRequest
	}{
		{"reject22_count", TestRequest{Pattern: reject22}},
		{"reject22_bytes_by_source", TestRequest{Pattern: reject22, MetricValue: "$bytes", Dimensions: map[string]string{"source": "$source"}}},
		{"reject_any_default0", TestRequest{Pattern: `[..., action="REJECT", status]`, MetricValue: "1", DefaultValue: &zero}},
		{"nodata_terms", TestRequest{Pattern: `?NODATA ?SKIPDATA`}},
		{"packets_of_accepts", TestRequest{Pattern: `[v, a, e, s, d, sp, dp, proto, packets, bytes, start, end, action=ACCEPT, status]`, MetricValue: "$packets"}},
	}
	for _, c := range cases {
		c.req.Lines = lines
		resp, err := RunTest(c.req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		golden.Check(t, c.name+".golden", renderTest(resp))
	}
	// The acceptance case spelled out: the SSH (port 22, TCP) rejects.
	resp, _ := RunTest(TestRequest{Pattern: reject22, Lines: lines})
	var matched []int
	for _, r := range resp.Results {
		if r.Matched {
			matched = append(matched, r.Line)
		}
	}
	if fmt.Sprint(matched) != "[8 9]" {
		t.Errorf("REJECT on port 22 matched lines %v, want [8 9]", matched)
	}
}

func TestCompileErrorsNameTheField(t *testing.T) {
	one := 1.0
	base := func() Filter {
		return Filter{Group: "vpc", Name: "f", MetricName: "m", Pattern: reject22}
	}
	cases := []struct {
		want string
		edit func(*Filter)
	}{
		{"group:", func(f *Filter) { f.Group = "" }},
		{"name:", func(f *Filter) { f.Name = "a b" }},
		{"metric_name:", func(f *Filter) { f.MetricName = "" }},
		{"metric_namespace:", func(f *Filter) { f.MetricNamespace = "bad ns" }},
		{"pattern: column 1: missing ]", func(f *Filter) { f.Pattern = "[a, b" }},
		{`metric_value: "$nope" is not a named field`, func(f *Filter) { f.MetricValue = "$nope" }},
		{"metric_value: \"$.x\" is a JSON selector", func(f *Filter) { f.MetricValue = "$.x" }},
		{"metric_value: \"abc\": want a number", func(f *Filter) { f.MetricValue = "abc" }},
		{"dimensions: 4 given", func(f *Filter) {
			f.Dimensions = map[string]string{"a": "$source", "b": "$source", "c": "$source", "d": "$source"}
		}},
		{"dimensions.src:", func(f *Filter) { f.Dimensions = map[string]string{"src": "$nope"} }},
		{"default_value: cannot be used with dimensions", func(f *Filter) {
			f.Dimensions = map[string]string{"src": "$source"}
			f.DefaultValue = &one
		}},
		{"metric_value: \"$x\" names a field", func(f *Filter) { f.Pattern, f.MetricValue = "ERROR", "$x" }},
		{`metric_value: "$0": want a field position`, func(f *Filter) { f.MetricValue = "$0" }},
		{`metric_value: "$1": want a field position`, func(f *Filter) { f.Pattern, f.MetricValue = "[]", "$1" }},
		{`unit: "Byte" is not a CloudWatch unit`, func(f *Filter) { f.Unit = "Byte" }},
		{`metric_value: "$.a[*]": a wildcard selects any number of values`, func(f *Filter) { f.Pattern, f.MetricValue = "{ $.a[*] = 1 }", "$.a[*]" }},
	}
	for _, c := range cases {
		f := base()
		c.edit(&f)
		_, err := Compile(f)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v", c.want, err)
		}
	}
	c, err := Compile(base())
	if err != nil || c.MetricNamespace != DefaultNamespace || c.MetricValue != "1" {
		t.Fatalf("defaults: %+v %v", c, err)
	}
}

type testModule struct {
	*Module
	db    *duckdb.Store
	ms    metricstore.Store
	clock atomic.Int64
}

func openModule(t *testing.T, path string) *testModule {
	t.Helper()
	ctx := context.Background()
	db, err := duckdb.Open(duckdb.Config{Path: path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := duckdb.OpenMetricPoints(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	tm := &testModule{db: db, ms: ms}
	tm.clock.Store(1_800_000_000)
	tm.Module = New(Config{FlushEvery: time.Hour, Now: func() time.Time { return time.Unix(tm.clock.Load(), 0) }},
		Dependencies{Registry: prometheus.NewRegistry(), DB: db, Metrics: ms})
	if err := tm.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tm.close(t) })
	return tm
}

func (tm *testModule) close(t *testing.T) {
	if tm.db == nil {
		return
	}
	if err := tm.Stop(context.Background()); err != nil {
		t.Error(err)
	}
	tm.db.Close()
	tm.db = nil
}

func (tm *testModule) series(t *testing.T, metric string, dims map[string]string) []metricstore.Point {
	t.Helper()
	pts, err := tm.ms.Query(context.Background(), metricstore.Query{ID: metricstore.ID{Namespace: DefaultNamespace, Metric: metric, Dimensions: dims},
		Start: time.Unix(0, 0), End: time.Unix(4_000_000_000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	// The last copy of a minute is its total.
	var out []metricstore.Point
	for _, p := range pts {
		if n := len(out); n > 0 && out[n-1].Time.Equal(p.Time) {
			out[n-1] = p
			continue
		}
		out = append(out, p)
	}
	return out
}

func TestIngestedAggregatesPerMinuteAndFlushes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mf.duckdb")
	tm := openModule(t, path)
	zero := 0.0
	for _, f := range []Filter{
		{Group: "vpc", Name: "ssh-rejects", Pattern: reject22, MetricName: "ssh_rejects"},
		{Group: "vpc", Name: "reject-bytes", Pattern: `[v, a, e, src, dst, sp, dp, p, pk, bytes, s, e2, action=REJECT, st]`,
			MetricName: "reject_bytes", MetricValue: "$bytes", Dimensions: map[string]string{"src": "$src"}},
		{Group: "vpc", Name: "nodata", Pattern: `NODATA`, MetricName: "nodata", DefaultValue: &zero},
		{Group: "other", Name: "x", Pattern: ``, MetricName: "other_lines"},
	} {
		if _, created, err := tm.Put(ctx, f); err != nil || !created {
			t.Fatalf("put %s: %v", f.Name, err)
		}
	}
	lines := readLines(t, "testdata/flowlogs.log")
	// Lines 8 and 9 (SSH rejects) in minute 0, line 2 (RDP reject) and the
	// rest in minute 1.
	m0, m1 := int64(1_799_999_880), int64(1_799_999_940)
	times := make([]int64, len(lines))
	for i := range times {
		times[i] = m1 + int64(i)
	}
	times[7], times[8] = m0+5, m0+59
	tm.Ingested("vpc", times, lines)
	tm.Ingested("nobody", times, lines) // no filters: nothing happens

	// Minute 1 is still current at the clock (1_800_000_000 is its end, so
	// move the clock into it): only minute 0 is written.
	tm.clock.Store(m1 + 30)
	if err := tm.Flush(ctx, false); err != nil {
		t.Fatal(err)
	}
	if pts := tm.series(t, "ssh_rejects", nil); len(pts) != 1 || pts[0].Value != 2 || pts[0].Count != 2 || !pts[0].Time.Equal(time.Unix(m0, 0)) {
		t.Fatalf("ssh_rejects after the first flush: %+v", pts)
	}
	if pts := tm.series(t, "reject_bytes", map[string]string{"src": "172.31.9.69"}); len(pts) != 0 {
		t.Fatalf("minute 1 must wait: %+v", pts)
	}
	if v := counterValue(tm.metrics.merged); v != 0 {
		t.Fatalf("fresh minutes need no merge, %v merged", v)
	}
	// A late SSH reject for minute 0 arrives after it was written.
	tm.Ingested("vpc", []int64{m0 + 30}, []string{lines[7]})
	tm.clock.Store(m1 + 90)
	if err := tm.Flush(ctx, false); err != nil {
		t.Fatal(err)
	}
	if pts := tm.series(t, "ssh_rejects", nil); len(pts) != 1 || pts[0].Value != 3 || pts[0].Count != 3 {
		t.Fatalf("late record must add to the stored minute: %+v", pts)
	}
	// ssh_rejects, reject_bytes{src=198.51.100.7} and nodata (its default
	// value) had written minute 0.
	if v := counterValue(tm.metrics.merged); v != 3 {
		t.Fatalf("late minutes merged: %v, want 3", v)
	}
	pts := tm.series(t, "reject_bytes", map[string]string{"src": "172.31.9.69"})
	if len(pts) != 1 || pts[0].Sum != 4249 || pts[0].Max != 4249 || !pts[0].Time.Equal(time.Unix(m1, 0)) {
		t.Fatalf("reject_bytes by src: %+v", pts)
	}
	pts = tm.series(t, "reject_bytes", map[string]string{"src": "198.51.100.9"})
	// Line 9 is in minute 0, line 10 (same source, UDP) in minute 1.
	if len(pts) != 2 || pts[0].Sum != 120 || pts[1].Count != 1 || pts[1].Min != 120 {
		t.Fatalf("reject_bytes 198.51.100.9: %+v", pts)
	}
	// The default value counts every non-matching record of the group.
	pts = tm.series(t, "nodata", nil)
	if len(pts) != 2 || pts[0].Count != 3 || pts[0].Sum != 0 || pts[1].Count != 8 || pts[1].Sum != 1 {
		t.Fatalf("nodata with default 0: %+v", pts)
	}
	if len(tm.series(t, "other_lines", nil)) != 0 {
		t.Fatal("a filter of another group must not see these records")
	}

	// Pending points are written on Stop; filters survive a restart.
	tm.Ingested("vpc", []int64{m1 + 200}, []string{lines[8]})
	tm.close(t)
	tm2 := openModule(t, path)
	if got := tm2.List("vpc"); len(got) != 3 || got[0].Name != "nodata" {
		t.Fatalf("filters after restart: %+v", got)
	}
	if pts := tm2.series(t, "ssh_rejects", nil); len(pts) != 2 || pts[1].Value != 1 {
		t.Fatalf("Stop must write pending points: %+v", pts)
	}
	if err := tm2.Delete(ctx, "vpc", "nodata"); err != nil {
		t.Fatal(err)
	}
	if err := tm2.Delete(ctx, "vpc", "nodata"); err == nil {
		t.Fatal("second delete must fail")
	}
}

func TestAPI(t *testing.T) {
	tm := openModule(t, filepath.Join(t.TempDir(), "mf.duckdb"))
	mux := http.NewServeMux()
	tm.Routes(mux, func(h http.Handler) http.Handler { return h })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	do := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	f := `{"group":"/aws/vpc/flows","name":"ssh","pattern":` + mustJSON(reject22) + `,"metric_name":"ssh_rejects"}`
	if code, body := do("POST", "/api/v1/metric-filters", f); code != 201 || !strings.Contains(body, `"metric_namespace": "FlowLens/Logs"`) {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, _ := do("POST", "/api/v1/metric-filters", f); code != 200 {
		t.Fatalf("replace: %d", code)
	}
	if code, body := do("POST", "/api/v1/metric-filters", `{"group":"g","name":"n","pattern":"[a,","metric_name":"m"}`); code != 400 ||
		!strings.Contains(body, "pattern: column 1: missing ]") {
		t.Fatalf("bad pattern: %d %s", code, body)
	}
	if code, body := do("POST", "/api/v1/metric-filters", `{"group":"g","name":"n","patern":"x"}`); code != 400 || !strings.Contains(body, "patern") {
		t.Fatalf("unknown field: %d %s", code, body)
	}
	if code, body := do("GET", "/api/v1/metric-filters?group=/aws/vpc/flows", ""); code != 200 || !strings.Contains(body, `"name": "ssh"`) {
		t.Fatalf("list: %d %s", code, body)
	}
	test := `{"pattern":` + mustJSON(reject22) + `,"metric_value":"$bytes","lines":[` + mustJSON(sshReject) + `,` + mustJSON(sshAccept) + `]}`
	code, body := do("POST", "/api/v1/metric-filters/test", test)
	var tr TestResponse
	if code != 200 || json.Unmarshal([]byte(body), &tr) != nil || tr.Matched != 1 || *tr.Results[0].Value != 180 || tr.Results[0].Fields["destport"] != "22" {
		t.Fatalf("test: %d %s", code, body)
	}
	if code, body := do("DELETE", "/api/v1/metric-filters/%2Faws%2Fvpc%2Fflows/ssh", ""); code != 200 {
		t.Fatalf("delete: %d %s", code, body)
	}
	if code, _ := do("DELETE", "/api/v1/metric-filters/%2Faws%2Fvpc%2Fflows/ssh", ""); code != 404 {
		t.Fatalf("delete again: %d", code)
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.Counter.GetValue()
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// benchLines is a realistic mix: 1 in 20 records is a REJECT to port 22.
func benchLines(n int) ([]int64, []string) {
	times := make([]int64, n)
	lines := make([]string, n)
	for i := range lines {
		port, action := 443, "ACCEPT"
		if i%20 == 0 {
			port, action = 22, "REJECT"
		}
		lines[i] = fmt.Sprintf("2 123456789010 eni-1235b8ca123456789 10.0.%d.%d 172.31.16.139 %d %d 6 %d %d 1700000000 1700000060 %s OK",
			i%200, i%250, 30000+i%30000, port, 1+i%40, 100+i*7%90000, action)
		times[i] = 1_700_000_000 + int64(i/1000)
	}
	return times, lines
}

func benchmarkIngested(b *testing.B, filters []Filter) {
	var cs []*Compiled
	for _, f := range filters {
		c, err := Compile(f)
		if err != nil {
			b.Fatal(err)
		}
		cs = append(cs, c)
	}
	times, lines := benchLines(10000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		apply(cs, times, lines, map[aggKey]*agg{})
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(lines)), "ns/record")
}

// BenchmarkIngestedReject22 is one simple filter (the reference's REJECT
// on port 22 pattern, value 1).
func BenchmarkIngestedReject22(b *testing.B) {
	benchmarkIngested(b, []Filter{{Group: "g", Name: "f", MetricName: "m", Pattern: reject22}})
}

// BenchmarkIngestedTerm is a term filter.
func BenchmarkIngestedTerm(b *testing.B) {
	benchmarkIngested(b, []Filter{{Group: "g", Name: "f", MetricName: "m", Pattern: `REJECT`}})
}

// BenchmarkIngestedBytesBySource takes $bytes by source address (a
// dimension: one point per source and minute).
func BenchmarkIngestedBytesBySource(b *testing.B) {
	benchmarkIngested(b, []Filter{{Group: "g", Name: "f", MetricName: "m", Pattern: reject22, MetricValue: "$bytes",
		Dimensions: map[string]string{"src": "$source"}}})
}

// BenchmarkIngestedRegexField is a space-delimited pattern whose source
// address is a regular expression and whose action is a cross-field
// condition (no = literal to prefilter on: every record is split).
func BenchmarkIngestedRegexField(b *testing.B) {
	benchmarkIngested(b, []Filter{{Group: "g", Name: "f", MetricName: "m",
		Pattern: `[v, acct, eni, src=%^10\.0\.1[0-9]\.%, dst, sp, dp, proto, packets, bytes, start, end, action!=ACCEPT && status=OK]`}})
}

// BenchmarkIngestedRegexTerm is a term pattern that is one regular
// expression, tried on the whole record.
func BenchmarkIngestedRegexTerm(b *testing.B) {
	benchmarkIngested(b, []Filter{{Group: "g", Name: "f", MetricName: "m", Pattern: `%REJECT|NODATA%`}})
}

// BenchmarkIngestedNoFilter is a group without filters, through the module.
func BenchmarkIngestedNoFilter(b *testing.B) {
	m := New(Config{}, Dependencies{})
	times, lines := benchLines(10000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Ingested("nobody", times, lines)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(lines)), "ns/record")
}

// BenchmarkIngestedJSON is a JSON pattern with a selector value (each
// record is parsed once).
func BenchmarkIngestedJSON(b *testing.B) {
	times := make([]int64, 10000)
	lines := make([]string, 10000)
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"level":"info","latency":%d,"user":{"id":%d,"name":"u%d"},"path":"/api/v1/x"}`, i%500, i%97, i%13)
		times[i] = 1_700_000_000 + int64(i/1000)
	}
	c, err := Compile(Filter{Group: "g", Name: "f", MetricName: "m", Pattern: `{ $.latency > 400 && $.user.name = "u1*" }`, MetricValue: "$.latency"})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		apply([]*Compiled{c}, times, lines, map[aggKey]*agg{})
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(lines)), "ns/record")
}
