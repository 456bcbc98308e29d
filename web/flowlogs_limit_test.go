package web

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/logquery"
)

// TestWebQueriesShareConcurrencyLimit: the flow-log page and its CSV
// download run their queries under the query module's limit, the one
// POST /api/v1/query has: while every slot is taken they are refused with
// 503 instead of adding work beside the API's.
func TestWebQueriesShareConcurrencyLimit(t *testing.T) {
	db, _ := openPoints(t)
	ctx := context.Background()
	mod, err := logquery.New(logquery.Config{MaxConcurrent: 1, Timeout: 300 * time.Millisecond},
		testLogSources(), logquery.Dependencies{DB: db, Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := mod.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer mod.Stop(ctx)
	u, ts := testUI(t)
	u.mods.flowlogs = flowlogAdapter(mod.Engine(), nil)
	c := browser(t)
	_, csrf := login(t, c, ts.URL, "admin", testPassword)
	query := url.Values{"group": {logquery.FlowsGroup}, "since": {"1h"}, "q": {"stats count(*) as n"}, "csrf_token": {csrf}}
	csv := ts.URL + "/flowlogs/results.csv?" + url.Values{"group": query["group"], "since": query["since"], "q": query["q"]}.Encode()

	release, err := mod.Engine().Acquire(ctx) // the API's one slot is taken
	if err != nil {
		t.Fatal(err)
	}
	resp, page := fetch(t, c, "POST", ts.URL+"/flowlogs", query, nil)
	if resp.StatusCode != 503 || !strings.Contains(page, "too many queries") {
		t.Errorf("page query with every slot taken: %d, want 503 saying too many queries", resp.StatusCode)
	}
	if resp, body := fetch(t, c, "GET", csv, nil, nil); resp.StatusCode != 503 {
		t.Errorf("CSV download with every slot taken: %d %q, want 503", resp.StatusCode, body)
	}
	if n := mod.Engine().Busy(); n != 2 {
		t.Errorf("%d refusals counted, want 2", n)
	}
	release()
	if resp, page := fetch(t, c, "POST", ts.URL+"/flowlogs", query, nil); resp.StatusCode != 200 {
		t.Errorf("page query with a free slot: %d %s", resp.StatusCode, page)
	}
	if resp, body := fetch(t, c, "GET", csv, nil, nil); resp.StatusCode != 200 || !strings.HasPrefix(body, "n\n") {
		t.Errorf("CSV download with a free slot: %d %q", resp.StatusCode, body)
	}
}
