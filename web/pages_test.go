package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// recordingMonitors is the monitor pages' interface over a fixed monitor,
// recording what the form saves: it tests the pages' rendering and form
// handling, not the monitor module (adapter_monitor_test.go does that).
type recordingMonitors struct {
	saved []monitorForm
}

func (m *recordingMonitors) list(context.Context) ([]monitorRow, error) {
	return []monitorRow{{Name: "web-to-b", Health: "DEGRADED", Status: "active"}}, nil
}
func (m *recordingMonitors) events(context.Context, int) ([]healthEvent, error) { return nil, nil }
func (m *recordingMonitors) remove(context.Context, string) error               { return nil }
func (m *recordingMonitors) save(_ context.Context, f monitorForm, _ bool) error {
	m.saved = append(m.saved, f)
	return nil
}

func (m *recordingMonitors) get(_ context.Context, name string, _ time.Duration) (*monitorDetail, error) {
	if name != "web-to-b" {
		return nil, errNotFound
	}
	path := []pathHop{{"host:sim-1", "host"}, {"subnet:web-a", "subnet"}, {"zone:zone-a", "zone"},
		{"zone-a>zone-b", "link"}, {"zone:zone-b", "zone"}, {"subnet:web-b", "subnet"}}
	return &monitorDetail{
		monitorRow: monitorRow{Name: name, Health: "DEGRADED", Local: []string{"zone:zone-a"}, Remote: []string{"zone:zone-b"}, Period: 10 * time.Second},
		Evidence: evidenceView{Summary: "degraded segment zone-a>zone-b: 5 independent pairs", Segments: []segmentView{
			{ID: "zone-a>zone-b", Kind: "link", Degraded: true, Score: 0.9, IndependentPairs: 5, RequiredPairs: 3, NowRetrans: 0.03, BaseRetrans: 0.001, Reason: "5 independent pairs lose data"},
			{ID: "zone:zone-a", Kind: "zone", Score: 0.2, Reason: "explained by zone-a>zone-b"},
		}},
		Top: []contributorTable{{Metric: "retransmissions", Rows: []contributor{{Host: "sim-1", LocalIP: "10.1.1.10", RemoteIP: "10.1.11.10",
			Port: 443, Category: "inter-zone", Value: "120", Path: path, PathQuery: "?local=10.1.1.10&remote=10.1.11.10&port=443"}}}},
	}, nil
}

func TestPathViewHighlightsTheDegradedSegment(t *testing.T) {
	u, ts := testUI(t)
	u.mods.monitors = &recordingMonitors{}
	c := browser(t)
	login(t, c, ts.URL, "admin", testPassword)
	resp, page := fetch(t, c, "GET", ts.URL+"/monitors/web-to-b/path?local=10.1.1.10&remote=10.1.11.10&port=443", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("path view: %d\n%s", resp.StatusCode, page)
	}
	degraded := regexp.MustCompile(`<li class="hop (\w+) degraded"[^>]*>\s*<span class="hop-kind">\w+</span> <span class="hop-id">([^<]+)</span>`).FindAllStringSubmatch(page, -1)
	if len(degraded) != 1 || degraded[0][2] != "zone-a&gt;zone-b" {
		t.Fatalf("degraded hops %v, want only the zone-a>zone-b link", degraded)
	}
	if n := strings.Count(page, `class="hop `); n != 6 {
		t.Fatalf("%d hops, want 6", n)
	}
	for _, want := range []string{"5 (needs 3)", "3.0% now, 0.1% baseline", "degraded segment zone-a&gt;zone-b"} {
		if !strings.Contains(page, want) {
			t.Errorf("evidence lacks %q", want)
		}
	}
	resp, page = fetch(t, c, "GET", ts.URL+"/monitors/web-to-b/path?local=10.9.9.9&remote=10.1.11.10", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(page, "not among the monitor") {
		t.Fatalf("unknown contributor: %d", resp.StatusCode)
	}
	if resp, _ := fetch(t, c, "GET", ts.URL+"/monitors/nope", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown monitor: %d", resp.StatusCode)
	}
}

func TestMonitorFormFromInsightsRows(t *testing.T) {
	u, ts := testUI(t)
	mon := &recordingMonitors{}
	u.mods.monitors = mon
	c := browser(t)
	_, csrf := login(t, c, ts.URL, "admin", testPassword)
	_, page := fetch(t, c, "GET", ts.URL+"/monitors/new?row="+url.QueryEscape("subnet:web-a|service:objstore")+"&row="+url.QueryEscape("subnet:web-a|internet"), nil, nil)
	for _, want := range []string{`<option value="subnet:web-a" selected>`, `<option value="service:objstore" selected>`, `<option value="internet" selected>`} {
		if !strings.Contains(page, want) {
			t.Errorf("form lacks %s", want)
		}
	}
	form := url.Values{"name": {"m1"}, "local": {"subnet:web-a"}, "remote": {"internet", "service:objstore"}, "period": {"10s"}}
	if resp, _ := fetch(t, c, "POST", ts.URL+"/monitors", form, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("create without CSRF token: %d", resp.StatusCode)
	}
	form.Set("csrf_token", csrf)
	resp, _ := fetch(t, c, "POST", ts.URL+"/monitors", form, nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/monitors/m1?notice=") {
		t.Fatalf("create: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if len(mon.saved) != 1 || mon.saved[0].Name != "m1" || strings.Join(mon.saved[0].Remote, ",") != "internet,service:objstore" || mon.saved[0].Period != "10s" {
		t.Fatalf("saved %+v", mon.saved)
	}
}

// fixedInternet is the internet page's interface over fixed data: it tests
// the page's rendering (adapter_internet_test.go tests the module).
type fixedInternet struct{}

func (fixedInternet) monitors() []string { return []string{"edge", "core"} }
func (fixedInternet) events(context.Context) ([]internetEvent, error) {
	return []internetEvent{{Monitor: "edge", Status: "ACTIVE", Type: "PERFORMANCE", Cause: "AS64500 across 3 cities", Started: time.Unix(1_800_000_000, 0)},
		{Monitor: "core", Status: "RESOLVED", Type: "AVAILABILITY", Cause: "local"}}, nil
}
func (fixedInternet) locations(_ context.Context, monitor string, _, _ time.Time) ([]cityNetwork, error) {
	return []cityNetwork{{City: "Paris", Country: "FR", ASN: 64500, Network: "AS64500", Lat: 48.85, Lon: 2.35, Bytes: 2e6, Share: 0.6, RTTP50: 12, Performance: 40, Availability: 99},
		{City: "Lima", Country: "PE", ASN: 6147, Network: "AS6147", Lat: -12, Lon: -77, Bytes: 1e6, Share: 0.4, RTTP50: 80, Performance: 99, Availability: 100},
		{Network: "unknown network (private range)", Bytes: 5e5, Performance: 100, Availability: 100}}, nil
}

func TestInternetPageShowsCityNetworksMapAndEvents(t *testing.T) {
	u, ts := testUI(t)
	u.mods.internet = fixedInternet{}
	c := browser(t)
	login(t, c, ts.URL, "admin", testPassword)
	resp, page := fetch(t, c, "GET", ts.URL+"/internet", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("internet page: %d", resp.StatusCode)
	}
	if n := strings.Count(page, `<circle `); n != 2 {
		t.Fatalf("%d points on the map, want 2", n)
	}
	for _, want := range []string{`class="pt bad"`, `class="pt ok"`, "AS64500", "AS6147", "Paris", "60.0%", "AS64500 across 3 cities",
		"unknown network (private range)"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "AVAILABILITY") {
		t.Error("events of another monitor must not show")
	}
}
