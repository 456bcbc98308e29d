package server

import (
	"html/template"
	"net/http"
	"time"

	"github.com/flowlens/flowlens/insights"
	"github.com/flowlens/flowlens/store"
)

// sessionCookie carries the API token for browsers that logged in.
const sessionCookie = "flowlens_token"

var indexPage = template.Must(template.New("index").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>FlowLens</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}code{background:#f4f4f4;padding:0 3px}</style></head>
<body><h1>FlowLens</h1>
{{if not .LoggedIn}}
<form method="post" action="/login"><label>API token <input type="password" name="token" size="45" autofocus></label>
<button>Log in</button></form>
<p>The token is the server's <code>FLOWLENS_TOKEN</code>, or the one it generated in <code>DATA_DIR/token</code>;
<code>flowlens demo</code> prints it.</p>
{{else}}
<form method="post" action="/logout"><button>Log out</button></form>
<h2>Topology</h2><p>{{.Regions}} regions, {{.Zones}} zones, {{.Networks}} networks, {{.Subnets}} subnets, {{.Services}} services.</p>
<h2>Agents ({{len .Agents}})</h2>
<table><tr><th>agent</th><th>host</th><th>mode</th><th>reports</th><th>last seen</th></tr>
{{range .Agents}}<tr><td>{{.AgentID}}</td><td>{{.HostID}}</td><td>{{.CollectorMode}}</td><td>{{.Reports}}</td><td>{{.LastSeen.Format "15:04:05"}}</td></tr>{{end}}
</table>
<h2>Top contributors, data transferred, last 15 minutes</h2>
{{if .Err}}<p>{{.Err}}</p>{{end}}
<table><tr><th>bytes</th><th>local subnet</th><th>remote</th><th>category</th><th>retransmissions</th><th>RTT µs</th></tr>
{{range .Top}}<tr><td>{{printf "%.0f" .Value}}</td><td>{{.LocalSubnet}}</td><td>{{.RemoteResource}}</td><td>{{.Category}}</td><td>{{.Retransmissions}}</td><td>{{printf "%.0f" .RoundTripTimeUS}}</td></tr>{{end}}
</table>
{{end}}
<h2>API</h2><ul>
<li><code>GET /healthz</code>, <code>GET /metrics</code> (Prometheus)</li>
<li><code>POST /api/v1/ingest</code> (agent reports)</li>
<li><code>GET /api/v1/insights/top?metric=data-transferred&amp;since=15m&amp;by=resource&amp;limit=20</code></li>
<li><code>GET /api/v1/insights/series?metric=retransmissions&amp;since=1h&amp;step=5m</code></li>
<li><code>GET /api/v1/topology</code>, <code>GET /api/v1/topology/lookup?ip=10.1.1.10</code>, <code>GET /api/v1/agents</code></li>
</ul><p>All <code>/api/</code> endpoints take <code>Authorization: Bearer TOKEN</code>.</p>
</body></html>`))

type indexData struct {
	LoggedIn                                    bool
	Regions, Zones, Networks, Subnets, Services int
	Agents                                      any
	Top                                         []insights.Row
	Err                                         string
}

func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	data := indexData{LoggedIn: s.authorized(r)}
	if data.LoggedIn {
		t := s.topology.Load()
		data.Regions, data.Zones, data.Networks, data.Subnets, data.Services =
			len(t.Regions), len(t.Zones), len(t.Networks), len(t.Subnets), len(t.Services)
		data.Agents = s.agents.List()
		q := store.TopQuery{Metric: store.MetricDataTransferred, Start: time.Now().Add(-15 * time.Minute), End: time.Now(), Limit: 20}
		rows, err := s.store.Top(r.Context(), q)
		if err != nil {
			data.Err = err.Error()
		}
		for _, row := range rows {
			data.Top = append(data.Top, insights.FromStore(q.Metric, row))
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	indexPage.Execute(w, data)
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	tok := r.FormValue("token")
	r.Header.Set("Authorization", "Bearer "+tok)
	if !s.authorized(r) {
		http.Error(w, "wrong token", http.StatusUnauthorized)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: tok, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.cfg.TLSCert != ""})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
