package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/flowlens/flowlens/topology"
)

// monitorDetail is everything the monitor page shows.
type monitorDetail struct {
	monitorRow
	Evidence    evidenceView
	Charts      []chartData
	Timeline    []healthSlot
	Top         []contributorTable
	WindowStart time.Time
	WindowEnd   time.Time
}

// evidenceView explains a monitor's health (see the health package).
type evidenceView struct {
	Summary        string
	Segments       []segmentView
	AttributedHost string
	Hosts          []hostView
	ActivePairs    int
	AffectedPairs  int
}

type segmentView struct {
	ID, Kind                   string
	Degraded                   bool
	Score                      float64 // share of the segment's traffic from affected pairs
	ActivePairs, AffectedPairs int
	IndependentPairs           int
	RequiredPairs              int
	BaseRetrans, NowRetrans    float64 // retransmission rates
	BaseRTTUS, NowRTTUS        float64
	Reason                     string
}

type hostView struct {
	Host, IP           string
	AffectedPairs      int
	ActivePairs        int
	RetransmissionRate float64
	RTTUS              float64
	Reason             string
}

// healthSlot is one window of the health timeline bar.
type healthSlot struct {
	Start, End time.Time
	State      string
	Left       float64 // percent of the bar
	Width      float64
}

type contributorTable struct {
	Metric string
	Rows   []contributor
}

// contributor is one top contributor of a monitor's window.
type contributor struct {
	Host      string
	LocalIP   string
	RemoteIP  string
	Port      int
	Category  string
	Value     string // formatted for the metric
	Path      []pathHop
	PathQuery string // ?local=..&remote=..&port=.. for the path view
}

type pathHop struct {
	ID, Kind string
}

// layoutTimeline positions the slots on a bar covering [start, end].
func layoutTimeline(slots []healthSlot, start, end time.Time) []healthSlot {
	span := end.Sub(start).Seconds()
	if span <= 0 {
		return nil
	}
	out := make([]healthSlot, 0, len(slots))
	for _, s := range slots {
		if s.End.Before(start) || s.Start.After(end) {
			continue
		}
		a, b := s.Start, s.End
		if a.Before(start) {
			a = start
		}
		if b.After(end) {
			b = end
		}
		s.Left = a.Sub(start).Seconds() / span * 100
		s.Width = b.Sub(a).Seconds() / span * 100
		out = append(out, s)
	}
	return out
}

func (u *UI) monitorRoutes(mux *http.ServeMux) {
	mux.Handle("GET /monitors", u.page("monitors", u.handleMonitors))
	mux.Handle("GET /monitors/new", u.page("monitor-new", u.handleMonitorNew))
	mux.Handle("POST /monitors", u.page("monitor-create", u.handleMonitorCreate))
	mux.Handle("GET /monitors/{name}", u.page("monitor", u.handleMonitor))
	mux.Handle("GET /monitors/{name}/edit", u.page("monitor-edit", u.handleMonitorEdit))
	mux.Handle("POST /monitors/{name}", u.page("monitor-update", u.handleMonitorUpdate))
	mux.Handle("POST /monitors/{name}/delete", u.page("monitor-delete", u.handleMonitorDelete))
	mux.Handle("GET /monitors/{name}/path", u.page("monitor-path", u.handleMonitorPath))
}

type monitorsData struct {
	base
	Available bool
	Monitors  []monitorRow
	Err       string
}

func (u *UI) handleMonitors(w http.ResponseWriter, r *http.Request) {
	d := monitorsData{base: baseFor(r, "Monitors", "monitors"), Available: u.mods.monitors != nil}
	if d.Available {
		ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
		defer cancel()
		var err error
		d.Monitors, err = u.mods.monitors.list(ctx)
		d.Err = errText(err)
	}
	u.pages.render(w, http.StatusOK, "monitors", d)
}

// pickerGroup is one <optgroup> of a resource picker.
type pickerGroup struct {
	Label   string
	Options []pickerOption
}

type pickerOption struct {
	Value, Label string
	Selected     bool
}

type monitorFormData struct {
	base
	Available bool
	Create    bool
	Form      monitorForm
	Local     []pickerGroup
	Remote    []pickerGroup
	Err       string
}

// pickers builds the local and remote resource pickers from the topology,
// marking the form's current choices.
func pickers(t *topology.Topology, selected []string, remote bool) []pickerGroup {
	sel := map[string]bool{}
	for _, s := range selected {
		sel[s] = true
	}
	opt := func(kind, id, name string) pickerOption {
		v := kind + ":" + id
		label := id
		if name != "" && name != id {
			label += " (" + name + ")"
		}
		return pickerOption{Value: v, Label: label, Selected: sel[v]}
	}
	var groups []pickerGroup
	add := func(label string, opts []pickerOption) {
		if len(opts) > 0 {
			groups = append(groups, pickerGroup{label, opts})
		}
	}
	var o []pickerOption
	for _, s := range t.Subnets {
		o = append(o, opt(topology.ResourceSubnet, s.ID, s.Name))
	}
	add("Subnets", o)
	o = nil
	for _, z := range t.Zones {
		o = append(o, opt(topology.ResourceZone, z.ID, z.Name))
	}
	add("Zones", o)
	o = nil
	for _, n := range t.Networks {
		o = append(o, opt(topology.ResourceNetwork, n.ID, n.Name))
	}
	add("Networks", o)
	o = nil
	for _, rg := range t.Regions {
		o = append(o, opt(topology.ResourceRegion, rg.ID, rg.Name))
	}
	add("Regions", o)
	o = nil
	for _, h := range t.HostGroups {
		o = append(o, opt(topology.ResourceHostGroup, h.ID, h.Name))
	}
	add("Host groups", o)
	if remote {
		o = nil
		for _, s := range t.Services {
			o = append(o, opt(topology.ResourceService, s.ID, s.Name))
		}
		add("Services", o)
		add("Internet", []pickerOption{{Value: topology.ResourceInternet, Label: "internet (any public address)", Selected: sel[topology.ResourceInternet]}})
	}
	return groups
}

func (u *UI) formData(r *http.Request, title string, create bool, f monitorForm) monitorFormData {
	t := u.deps.Topology()
	return monitorFormData{base: baseFor(r, title, "monitors"), Available: u.mods.monitors != nil, Create: create, Form: f,
		Local: pickers(t, f.Local, false), Remote: pickers(t, f.Remote, true)}
}

// handleMonitorNew shows the create form, prefilled from ?local=&remote=
// or from the rows selected in workload insights (?row=local|remote).
func (u *UI) handleMonitorNew(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := monitorForm{Name: q.Get("name"), Local: q["local"], Remote: q["remote"], Period: "60s"}
	if rows := q["row"]; len(rows) > 0 {
		v := monitorFromRows(rows)
		f.Local = append(f.Local, v["local"]...)
		f.Remote = append(f.Remote, v["remote"]...)
	}
	u.pages.render(w, http.StatusOK, "monitor-form", u.formData(r, "New monitor", true, f))
}

func readMonitorForm(r *http.Request) monitorForm {
	r.ParseForm()
	return monitorForm{Name: strings.TrimSpace(r.PostFormValue("name")), Local: r.PostForm["local"],
		Remote: r.PostForm["remote"], Period: strings.TrimSpace(r.PostFormValue("period"))}
}

func (u *UI) handleMonitorCreate(w http.ResponseWriter, r *http.Request) {
	u.saveMonitor(w, r, readMonitorForm(r), true)
}

func (u *UI) handleMonitorUpdate(w http.ResponseWriter, r *http.Request) {
	f := readMonitorForm(r)
	f.Name = r.PathValue("name")
	u.saveMonitor(w, r, f, false)
}

func (u *UI) saveMonitor(w http.ResponseWriter, r *http.Request, f monitorForm, create bool) {
	if u.mods.monitors == nil {
		http.Error(w, "monitors are not available in this build", http.StatusNotImplemented)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	if err := u.mods.monitors.save(ctx, f, create); err != nil {
		title := "Edit monitor " + f.Name
		if create {
			title = "New monitor"
		}
		d := u.formData(r, title, create, f)
		d.Err = err.Error()
		u.pages.render(w, http.StatusUnprocessableEntity, "monitor-form", d)
		return
	}
	verb := "updated"
	if create {
		verb = "created"
	}
	http.Redirect(w, r, "/monitors/"+url.PathEscape(f.Name)+"?notice="+url.QueryEscape("Monitor "+f.Name+" "+verb+"."), http.StatusSeeOther)
}

func (u *UI) handleMonitorEdit(w http.ResponseWriter, r *http.Request) {
	if u.mods.monitors == nil {
		u.pages.render(w, http.StatusOK, "monitor-form", u.formData(r, "Edit monitor", false, monitorForm{}))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	m, err := u.mods.monitors.get(ctx, r.PathValue("name"), time.Hour)
	if err != nil {
		u.notFound(w, r, "monitors", err)
		return
	}
	f := monitorForm{Name: m.Name, Local: m.Local, Remote: m.Remote, Period: m.Period.String()}
	u.pages.render(w, http.StatusOK, "monitor-form", u.formData(r, "Edit monitor "+m.Name, false, f))
}

func (u *UI) handleMonitorDelete(w http.ResponseWriter, r *http.Request) {
	if u.mods.monitors == nil {
		http.Error(w, "monitors are not available in this build", http.StatusNotImplemented)
		return
	}
	name := r.PathValue("name")
	if err := u.mods.monitors.remove(r.Context(), name); err != nil {
		u.notFound(w, r, "monitors", err)
		return
	}
	http.Redirect(w, r, "/monitors?notice="+url.QueryEscape("Monitor "+name+" deleted."), http.StatusSeeOther)
}

type monitorData struct {
	base
	Available bool
	M         *monitorDetail
	Since     string
	Ranges    []string
}

// monitorRanges are the detail page's time ranges.
var monitorRanges = []string{"15m", "1h", "6h", "24h", "7d"}

func (u *UI) handleMonitor(w http.ResponseWriter, r *http.Request) {
	d := monitorData{base: baseFor(r, "Monitor "+r.PathValue("name"), "monitors"), Available: u.mods.monitors != nil,
		Ranges: monitorRanges, Since: r.URL.Query().Get("since")}
	if d.Since == "" {
		d.Since = "1h"
	}
	if !d.Available {
		u.pages.render(w, http.StatusOK, "monitor", d)
		return
	}
	since, err := parseSince(d.Since)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	if d.M, err = u.mods.monitors.get(ctx, r.PathValue("name"), since); err != nil {
		u.notFound(w, r, "monitors", err)
		return
	}
	u.pages.render(w, http.StatusOK, "monitor", d)
}

type pathData struct {
	base
	Available bool
	M         *monitorDetail
	C         *contributor
	Degraded  map[string]bool
	Evidence  map[string]segmentView
	OnPath    []segmentView // evidence of the segments on this path, ranked
}

// handleMonitorPath shows the path one contributor crosses, the degraded
// segment highlighted, with the evidence for each segment beside it.
func (u *UI) handleMonitorPath(w http.ResponseWriter, r *http.Request) {
	d := pathData{base: baseFor(r, "Path", "monitors"), Available: u.mods.monitors != nil}
	if !d.Available {
		u.pages.render(w, http.StatusOK, "path", d)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	m, err := u.mods.monitors.get(ctx, r.PathValue("name"), time.Hour)
	if err != nil {
		u.notFound(w, r, "monitors", err)
		return
	}
	d.M = m
	d.Title = "Path · " + m.Name
	q := r.URL.Query()
	d.C = findContributor(m.Top, q.Get("local"), q.Get("remote"), q.Get("port"))
	d.Degraded, d.Evidence = map[string]bool{}, map[string]segmentView{}
	for _, s := range m.Evidence.Segments {
		d.Evidence[s.ID] = s
		if s.Degraded {
			d.Degraded[s.ID] = true
		}
	}
	if d.C != nil {
		for _, h := range d.C.Path {
			if s, ok := d.Evidence[h.ID]; ok {
				d.OnPath = append(d.OnPath, s)
			}
		}
	}
	u.pages.render(w, http.StatusOK, "path", d)
}

// errNotFound is what adapters return for an unknown name.
var errNotFound = errors.New("not found")

func (u *UI) notFound(w http.ResponseWriter, r *http.Request, nav string, err error) {
	code := http.StatusInternalServerError
	if errors.Is(err, errNotFound) {
		code = http.StatusNotFound
	}
	u.pages.render(w, code, "error", errorData{base: baseFor(r, "Not found", nav), Err: err.Error()})
}

type errorData struct {
	base
	Err string
}

func parseSince(s string) (time.Duration, error) {
	for _, x := range monitorRanges {
		if s == x {
			if strings.HasSuffix(s, "d") {
				return 7 * 24 * time.Hour, nil
			}
			return time.ParseDuration(s)
		}
	}
	return 0, errors.New("since " + s + ": want one of " + strings.Join(monitorRanges, ", "))
}

// findContributor picks the contributor a path link names.
func findContributor(tables []contributorTable, local, remote, port string) *contributor {
	for _, t := range tables {
		for i := range t.Rows {
			c := &t.Rows[i]
			if c.LocalIP == local && c.RemoteIP == remote && (port == "" || strconv.Itoa(c.Port) == port) {
				return c
			}
		}
	}
	return nil
}
