package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/flowlens/flowlens/diagnose"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// base is what every page's layout needs.
type base struct {
	Title  string
	Nav    string // the active navigation entry
	User   string
	CSRF   string
	Notice string // one-line message after an action ("monitor created")
}

// navItems is the navigation of every page, in order.
var navItems = []struct{ Key, Href, Label string }{
	{"overview", "/", "Overview"},
	{"insights", "/insights", "Workload insights"},
	{"monitors", "/monitors", "Monitors"},
	{"flowlogs", "/flowlogs", "Flow logs"},
	{"internet", "/internet", "Internet"},
	{"alarms", "/alarms", "Alarms"},
	{"agents", "/agents", "Agents"},
}

// pages holds one template set per page (layout + the page's content).
type pages struct {
	byName map[string]*template.Template
}

func parsePages() (*pages, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("parse layout: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", n, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

// render executes a page into a buffer first, so that a template error
// becomes a clean 500 rather than half a page.
func (p *pages) render(w http.ResponseWriter, code int, name string, data any) {
	t := p.byName[name]
	if t == nil {
		http.Error(w, "no page "+name, http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", data); err != nil {
		http.Error(w, "render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// baseFor fills the layout fields from the request's session.
func baseFor(r *http.Request, title, nav string) base {
	b := base{Title: title, Nav: nav, Notice: r.URL.Query().Get("notice")}
	if ss := sessionOf(r); ss != nil {
		b.User, b.CSRF = ss.user, ss.csrf
	}
	if len(b.Notice) > 200 {
		b.Notice = b.Notice[:200]
	}
	return b
}

func staticHandler() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServer(http.FS(sub)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}

var funcs = template.FuncMap{
	"nav":      func() any { return navItems },
	"bytes":    humanBytes,
	"num":      humanNumber,
	"rate":     func(v float64) string { return humanNumber(v) + "/s" },
	"ms":       func(us float64) string { return fmt.Sprintf("%.1f ms", us/1000) },
	"pct":      func(v float64) string { return fmt.Sprintf("%.1f%%", v*100) },
	"ago":      ago,
	"time":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"hhmm":     func(t time.Time) string { return t.UTC().Format("15:04:05") },
	"json":     toJSON,
	"lower":    strings.ToLower,
	"stateCls": stateClass,
	"add":      func(a, b int) int { return a + b },
	"i64":      func(v int64) float64 { return float64(v) },
	"add64":    func(a, b uint64) float64 { return float64(a) + float64(b) },
	// the diagnosis page
	"protoName": diagnose.ProtocolName,
	"protocols": func() []string { return []string{"tcp", "udp", "icmp", "icmpv6", "-1"} },
}

func toJSON(v any) (template.JS, error) {
	b, err := json.Marshal(v)
	return template.JS(b), err
}

func humanBytes(v float64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB"}
	i := 0
	for math.Abs(v) >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", v)
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

func humanNumber(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e9:
		return fmt.Sprintf("%.2fG", v/1e9)
	case a >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	case a == math.Trunc(a):
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// stateClass maps health, alarm and event states to one CSS class each.
func stateClass(s string) string {
	switch strings.ToUpper(s) {
	case "HEALTHY", "OK", "RESOLVED", "ACTIVE_MONITOR", "REPORTING":
		return "ok"
	case "DEGRADED", "ALARM", "ACTIVE", "ERROR", "SILENT":
		return "bad"
	case "UNKNOWN", "INSUFFICIENT_DATA", "PENDING", "STALE":
		return "warn"
	}
	return "neutral"
}
