package web

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/diagnose/diagnoseapi"
	"github.com/flowlens/flowlens/logquery"
)

// rejectRows is a fake query engine for the diagnosis: one rejected SSH
// request from app1 to web1 of diagnose/testdata/base.
type rejectRows struct{ asked []logquery.Request }

func (e *rejectRows) Run(_ context.Context, req logquery.Request) (*logquery.Result, error) {
	e.asked = append(e.asked, req)
	if strings.Contains(req.Query, `"REJECT"`) {
		return &logquery.Result{Columns: []string{"interfaceId", "srcAddr", "dstAddr", "srcPort", "dstPort", "protocol", "records"},
			Rows: [][]any{{"eni-0web1000000000001", "10.0.2.20", "10.0.1.10", int64(51000), int64(22), int64(6), int64(4)}}}, nil
	}
	return &logquery.Result{Columns: []string{"srcAddr", "dstAddr", "srcPort", "dstPort", "protocol", "records"}, Rows: [][]any{}}, nil
}

// diagnoseUI is the test UI with the real diagnosis module over the base
// configuration (dir "" for none) and a fake query engine.
func diagnoseUI(t *testing.T, dir string) (*rejectRows, string, func(path string) (int, string)) {
	t.Helper()
	u, ts := testUI(t)
	eng := &rejectRows{}
	m, err := diagnoseapi.New(diagnoseapi.Config{AWSConfigDir: dir, Workers: 1}, diagnoseapi.Dependencies{Query: eng})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	u.mods.diagnose = diagnoseAdapter(m)
	c := browser(t)
	login(t, c, ts.URL, "admin", testPassword)
	return eng, ts.URL, func(path string) (int, string) {
		resp, page := fetch(t, c, "GET", ts.URL+path, nil, nil)
		return resp.StatusCode, page
	}
}

// TestDiagnosePageShowsCausesWithTheirFix: the group's causes, with code,
// component, direction, counts, examples and the fix, over the range
// asked for.
func TestDiagnosePageShowsCausesWithTheirFix(t *testing.T) {
	eng, _, get := diagnoseUI(t, "../diagnose/testdata/base")
	status, page := get("/flowlogs/diagnose?group=vpc-a&since=6h")
	if status != 200 {
		t.Fatalf("status %d\n%s", status, page)
	}
	for _, want := range []string{`id="causes"`, "ENI_SG_RULES_MISMATCH", "eni-0web1000000000001", "ingress",
		"10.0.2.20:51000 → 10.0.1.10:22 tcp", "request on eni-0web1000000000001 (4 records)", `class="fix"`, "4 records, 4 REJECT, 1 causes"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if len(eng.asked) != 2 || eng.asked[0].Groups[0] != "vpc-a" {
		t.Fatalf("engine asked %+v", eng.asked)
	}
	if r := eng.asked[0].End.Sub(eng.asked[0].Start); r != 6*time.Hour {
		t.Errorf("range %s, want 6h", r)
	}
}

// TestDiagnosePagePathCheck: the form's path check shows the verdict, what
// blocks it and the hops; a bad parameter is named.
func TestDiagnosePagePathCheck(t *testing.T) {
	_, _, get := diagnoseUI(t, "../diagnose/testdata/base")
	q := url.Values{"group": {"vpc-a"}, "src": {"10.0.1.10"}, "dst": {"10.1.1.40"}, "protocol": {"tcp"}, "dst-port": {"5432"}}
	_, page := get("/flowlogs/diagnose?" + q.Encode())
	for _, want := range []string{`id="path-verdict"`, "not reachable", `id="path-explanations"`, "ENI_SG_RULES_MISMATCH", "eni-0b10000000000040a",
		"NO_ROUTE_TO_DESTINATION", `id="path-hops"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	q.Set("dst-port", "ssh")
	if _, page = get("/flowlogs/diagnose?" + q.Encode()); !strings.Contains(page, `id="path-error"`) || !strings.Contains(page, "dst-port &#34;ssh&#34;: not a number") {
		t.Errorf("bad port: no error naming dst-port")
	}
	q.Set("dst-port", "")
	if _, page = get("/flowlogs/diagnose?" + q.Encode()); !strings.Contains(page, "dst-port is required for tcp") {
		t.Errorf("missing port: no error naming dst-port")
	}
}

// TestDiagnosePageWithoutConfiguration: without --aws-config the page says
// how to give one and runs nothing; without the module it says so.
func TestDiagnosePageWithoutConfiguration(t *testing.T) {
	eng, _, get := diagnoseUI(t, "")
	if status, page := get("/flowlogs/diagnose?group=vpc-a"); status != 200 || !strings.Contains(page, `id="not-configured"`) || !strings.Contains(page, "--aws-config DIR") {
		t.Errorf("status %d, page lacks the --aws-config hint", status)
	}
	if len(eng.asked) != 0 {
		t.Errorf("queries ran without a configuration: %+v", eng.asked)
	}
	_, ts := testUI(t)
	c := browser(t)
	login(t, c, ts.URL, "admin", testPassword)
	resp, page := fetch(t, c, "GET", ts.URL+"/flowlogs/diagnose?group=vpc-a", nil, nil)
	if resp.StatusCode != 501 || !strings.Contains(page, `id="not-available"`) {
		t.Errorf("no module: %d", resp.StatusCode)
	}
}

// TestFlowLogPageLinksTheDiagnosis: the flow-log group page links to its
// diagnosis when the module is there, and not for the agents' flows.
func TestFlowLogPageLinksTheDiagnosis(t *testing.T) {
	u, ts := testUI(t)
	c := browser(t)
	login(t, c, ts.URL, "admin", testPassword)
	_, page := fetch(t, c, "GET", ts.URL+"/flowlogs?group=vpc-a&since=6h", nil, nil)
	if strings.Contains(page, `id="diagnose-link"`) {
		t.Error("link without the diagnosis module")
	}
	u.mods.diagnose = diagnosePages{}
	_, page = fetch(t, c, "GET", ts.URL+"/flowlogs?group=vpc-a&since=6h", nil, nil)
	if !strings.Contains(page, `href="/flowlogs/diagnose?group=vpc-a&amp;since=6h" id="diagnose-link"`) {
		t.Error("no link to the group's diagnosis")
	}
	_, page = fetch(t, c, "GET", ts.URL+"/flowlogs?group=flowlens/flows", nil, nil)
	if strings.Contains(page, `id="diagnose-link"`) {
		t.Error("link for the agents' flows")
	}
}
