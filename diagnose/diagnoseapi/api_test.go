package diagnoseapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/diagnose"
	"github.com/flowlens/flowlens/diagnose/awsconfig"
	"github.com/flowlens/flowlens/logquery"
)

const base = "../testdata/base"

// fakeEngine answers the aggregated queries with fixed rows (or an error).
type fakeEngine struct {
	reject [][]any
	err    error
	asked  []logquery.Request
}

func (f *fakeEngine) Run(_ context.Context, req logquery.Request) (*logquery.Result, error) {
	f.asked = append(f.asked, req)
	if f.err != nil {
		return nil, f.err
	}
	if strings.Contains(req.Query, `"REJECT"`) {
		return &logquery.Result{Columns: []string{"interfaceId", "srcAddr", "dstAddr", "srcPort", "dstPort", "protocol", "records"}, Rows: f.reject}, nil
	}
	return &logquery.Result{Columns: []string{"srcAddr", "dstAddr", "srcPort", "dstPort", "protocol", "records"}, Rows: [][]any{}}, nil
}

// serve starts the module (with the base configuration unless dir is "")
// behind a protect that lets everything through.
func serve(t *testing.T, dir string, eng *fakeEngine) (*Module, *httptest.Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := New(Config{AWSConfigDir: dir, MaxRange: 48 * time.Hour, Workers: 1}, Dependencies{Registry: reg, Query: eng})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Stop(context.Background()) })
	mux := http.NewServeMux()
	m.Routes(mux, func(h http.Handler) http.Handler { return h })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return m, srv, reg
}

func get(t *testing.T, srv *httptest.Server, path string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, []byte(b.String())
}

// TestRequestsAnsweredByStatus: every kind of request gets its status and
// its counter; refused ones name the parameter at fault.
func TestRequestsAnsweredByStatus(t *testing.T) {
	row := []any{"eni-0web1000000000001", "192.0.2.9", "10.0.1.10", int64(40000), int64(22), int64(6), int64(3)}
	for _, tc := range []struct {
		name, dir, path string
		engineErr       error
		status          int
		kind, result    string
		body            string
	}{
		{"rejects", base, "/api/v1/diagnose/rejects?group=vpc&since=2h", nil, 200, "rejects", "ok", `"rejects": 3`},
		{"rejects default range", base, "/api/v1/diagnose/rejects?group=vpc", nil, 200, "rejects", "ok", `"causes"`},
		{"rejects without group", base, "/api/v1/diagnose/rejects?since=1h", nil, 400, "rejects", "bad_request", "group is required"},
		{"rejects of the agents' flows", base, "/api/v1/diagnose/rejects?group=flowlens/flows", nil, 400, "rejects", "bad_request", "no REJECT records"},
		{"rejects range too long", base, "/api/v1/diagnose/rejects?group=vpc&since=72h", nil, 400, "rejects", "bad_request", "--diagnose-max-range"},
		{"rejects bad start", base, "/api/v1/diagnose/rejects?group=vpc&start=yesterday", nil, 400, "rejects", "bad_request", "start"},
		{"rejects since and start", base, "/api/v1/diagnose/rejects?group=vpc&since=1h&start=1700000000", nil, 400, "rejects", "bad_request", "not both"},
		{"rejects busy", base, "/api/v1/diagnose/rejects?group=vpc", logquery.ErrBusy, 503, "rejects", "busy", "too many queries"},
		{"rejects timeout", base, "/api/v1/diagnose/rejects?group=vpc", logquery.ErrTimeout, 504, "rejects", "timeout", "timed out"},
		{"rejects not configured", "", "/api/v1/diagnose/rejects?group=vpc", nil, 503, "rejects", "not_configured", "--aws-config"},
		{"path", base, "/api/v1/diagnose/path?src=10.0.2.20&dst=10.0.3.30&protocol=tcp&dst-port=5432", nil, 200, "path", "ok", `"reachable": true`},
		{"path bad port", base, "/api/v1/diagnose/path?src=10.0.2.20&dst=10.0.3.30&protocol=tcp&dst-port=http", nil, 400, "path", "bad_request", "dst-port"},
		{"path missing port", base, "/api/v1/diagnose/path?src=10.0.2.20&dst=10.0.3.30&protocol=udp", nil, 400, "path", "bad_request", "dst-port is required"},
		{"path unknown ends", base, "/api/v1/diagnose/path?src=192.0.2.1&dst=192.0.2.2&protocol=icmp", nil, 400, "path", "bad_request", "neither address"},
		{"path not configured", "", "/api/v1/diagnose/path?src=10.0.2.20&dst=10.0.3.30&protocol=icmp", nil, 503, "path", "not_configured", "--aws-config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, srv, reg := serve(t, tc.dir, &fakeEngine{reject: [][]any{row}, err: tc.engineErr})
			status, body := get(t, srv, tc.path)
			if status != tc.status || !strings.Contains(string(body), tc.body) {
				t.Errorf("status %d, body %s; want %d with %q", status, body, tc.status, tc.body)
			}
			mf, err := reg.Gather()
			if err != nil || len(mf) != 1 || mf[0].GetName() != "flowlens_diagnose_requests_total" || len(mf[0].Metric) != 1 {
				t.Fatalf("metrics %v, %v", mf, err)
			}
			lbl := map[string]string{}
			for _, l := range mf[0].Metric[0].Label {
				lbl[l.GetName()] = l.GetValue()
			}
			if lbl["kind"] != tc.kind || lbl["result"] != tc.result {
				t.Errorf("counted %v, want kind %s result %s", lbl, tc.kind, tc.result)
			}
		})
	}
}

// TestPathAnswersWhatTheAnalysisGives: the API's JSON is the analysis's
// result for the same parameters (what the CLI prints with --output json).
func TestPathAnswersWhatTheAnalysisGives(t *testing.T) {
	_, srv, _ := serve(t, base, &fakeEngine{})
	cfg, err := awsconfig.Load(base, awsconfig.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	q, err := diagnose.PathParams{Src: "10.0.1.10", Dst: "10.1.1.40", Protocol: "tcp", DstPort: 5432, SrcPort: -1, ICMPType: -1, ICMPCode: -1}.Query("")
	if err != nil {
		t.Fatal(err)
	}
	want, err := diagnose.Compile(cfg).Analyze(q)
	if err != nil {
		t.Fatal(err)
	}
	status, body := get(t, srv, "/api/v1/diagnose/path?src=10.0.1.10&dst=10.1.1.40&protocol=tcp&dst-port=5432")
	var got diagnose.Result
	if err := json.Unmarshal(body, &got); err != nil || status != 200 {
		t.Fatalf("%d %v %s", status, err, body)
	}
	if !reflect.DeepEqual(&got, want) || got.Reachable || len(got.Explanations) == 0 {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

// TestRejectsRangeReachesTheEngine: since and start/end become the
// engine's range, to the second, over the named group.
func TestRejectsRangeReachesTheEngine(t *testing.T) {
	eng := &fakeEngine{}
	_, srv, _ := serve(t, base, eng)
	status, body := get(t, srv, "/api/v1/diagnose/rejects?group=vpc&start=2026-01-02T10:00:00Z&end=1767355200")
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	if len(eng.asked) != 2 {
		t.Fatalf("asked %+v", eng.asked)
	}
	for _, r := range eng.asked {
		if !reflect.DeepEqual(r.Groups, []string{"vpc"}) || r.Start.Unix() != 1767348000 || r.End.Unix() != 1767355200 {
			t.Errorf("request %+v", r)
		}
	}
}

// TestStartFailsOnABadConfiguration: the error names the file.
func TestStartFailsOnABadConfiguration(t *testing.T) {
	m, err := New(Config{AWSConfigDir: "../testdata/does-not-exist"}, Dependencies{Query: &fakeEngine{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "does-not-exist") {
		t.Errorf("start: %v", err)
	}
	if _, err := New(Config{}, Dependencies{}); err == nil {
		t.Error("New without a query engine: no error")
	}
}
