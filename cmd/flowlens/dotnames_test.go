package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/flowlens/flowlens/server"
)

// TestDotNamesRefused creates monitors, alarms, metric filters, internet
// monitors and flow-log groups named "." or ".." (or, where a name may
// hold slashes, with such a part) through the API of a server with every
// module. Such a name is resolved away in a URL path
// (/api/v1/monitors/.. is /api/v1/), so the resource could be created but
// never read or deleted by its URL. Each API must refuse it with 400 and
// still accept an ordinary name in the same request.
func TestDotNamesRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	var mods moduleFlags
	fs := pflag.NewFlagSet("server", pflag.ContinueOnError)
	mods.register(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	mods.web.AdminPassword = "pw"
	dir := t.TempDir()
	srv, err := server.New(server.Config{DataDir: dir, Listen: "127.0.0.1:0", Tokens: []string{"tok"}, OpenStore: embeddedStore(t, dir),
		TopologyPath: "../../examples/topology.yaml", Modules: mods.builder(nil)}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(context.Background())
	flowLogs, err := os.ReadFile(sampleFlowLogs)
	if err != nil {
		t.Fatal(err)
	}

	type api struct {
		path  string // %s is the name, path-escaped
		body  string // %s is the name, JSON-quoted
		field string // that an error names
	}
	apis := map[string]api{
		"monitor":       {"/api/v1/monitors", `{"name":%s,"local":["subnet:web-a"],"period":"10s"}`, "name"},
		"alarm":         {"/api/v1/alarms", `{"name":%s,"namespace":"FlowLens/Monitors","metric":"health_indicator","period":"1m","comparison":">=","threshold":1}`, "name"},
		"metric filter": {"/api/v1/metric-filters", `{"group":"/vpc/prod","name":%s,"pattern":"[a]","metric_name":"m"}`, "name"},
		"filter group":  {"/api/v1/metric-filters", `{"group":%s,"name":"f","pattern":"[a]","metric_name":"m"}`, "group"},
		"internet":      {"/api/v1/internet/monitors", `{"name":%s,"period_seconds":60}`, "name"},
		"log group":     {"/api/v1/logs/%s?stream=s", "", "group"},
		"log stream":    {"/api/v1/logs/prod?stream=%s", "", "stream"},
	}
	for _, c := range []struct {
		api, name string
		want      int
	}{
		{"monitor", "ok-1", http.StatusCreated}, {"monitor", ".", 400}, {"monitor", "..", 400},
		{"alarm", "ok-1", http.StatusCreated}, {"alarm", ".", 400}, {"alarm", "..", 400},
		{"metric filter", "ok-1", http.StatusCreated}, {"metric filter", ".", 400}, {"metric filter", "..", 400},
		{"filter group", "/vpc/ok", http.StatusCreated}, {"filter group", "..", 400}, {"filter group", "/vpc/../x", 400}, {"filter group", "/vpc/.", 400},
		{"internet", "ok-1", http.StatusCreated}, {"internet", ".", 400}, {"internet", "..", 400},
		{"log group", "ok-1", 200}, {"log group", "a%2F..", 400}, {"log group", "%2Fvpc%2F.%2Fx", 400},
		{"log stream", "ok-1", 200}, {"log stream", ".", 400}, {"log stream", "..", 400},
	} {
		a := apis[c.api]
		var req *http.Request
		if a.body != "" {
			body := strings.Replace(a.body, "%s", `"`+c.name+`"`, 1)
			req, _ = http.NewRequest("POST", srv.URL()+a.path, strings.NewReader(body))
		} else {
			req, _ = http.NewRequest("POST", srv.URL()+strings.Replace(a.path, "%s", c.name, 1), strings.NewReader(string(flowLogs)))
		}
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s named %q: %d %s, want %d", c.api, c.name, resp.StatusCode, msg, c.want)
		} else if field := a.field; c.want == 400 && !strings.Contains(string(msg), field) {
			t.Errorf("%s named %q: the error should name the field (%s): %s", c.api, c.name, field, msg)
		}
	}
}
