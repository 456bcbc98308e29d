package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/flowlens/flowlens/diagnose"
	"github.com/flowlens/flowlens/insights"
	"github.com/flowlens/flowlens/logquery"
)

// pathForm is the path check's form, as typed.
type pathForm struct {
	Src, Dst, Protocol, DstPort, SrcPort string
	Given                                bool // the form was submitted
}

type diagnoseData struct {
	base
	Available  bool // the diagnosis module is built in
	Configured bool // the server has --aws-config
	Groups     []string
	Group      string
	Since      string
	Ranges     []string
	Report     *diagnose.Report
	Err        string
	Path       pathForm
	PathResult *diagnose.Result
	PathErr    string
}

// handleDiagnose shows a log group's REJECT causes with their fixes
// (?group=G&since=D) and, when the form was submitted, one path check
// (&src=&dst=&protocol=&dst-port=&src-port=, the CLI's flags). It only
// reads, so it is a GET: the URL can be shared.
func (u *UI) handleDiagnose(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := diagnoseData{base: baseFor(r, "REJECT diagnosis", "flowlogs"), Available: u.mods.diagnose != nil,
		Group: q.Get("group"), Since: q.Get("since"), Ranges: flowlogRanges,
		Path: pathForm{Src: q.Get("src"), Dst: q.Get("dst"), Protocol: q.Get("protocol"), DstPort: q.Get("dst-port"), SrcPort: q.Get("src-port")}}
	d.Path.Given = d.Path.Src != "" || d.Path.Dst != ""
	if d.Since == "" {
		d.Since = "24h"
	}
	if d.Path.Protocol == "" {
		d.Path.Protocol = "tcp"
	}
	if !d.Available {
		u.pages.render(w, http.StatusNotImplemented, "diagnose", d)
		return
	}
	d.Configured = u.mods.diagnose.configured()
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	if u.mods.flowlogs != nil {
		groups, err := u.mods.flowlogs.groups(ctx)
		for _, g := range groups {
			if g != logquery.FlowsGroup { // the agents' flows have no REJECT records
				d.Groups = append(d.Groups, g)
			}
		}
		if err != nil {
			d.Err = err.Error()
		}
	}
	if d.Group == "" && len(d.Groups) > 0 {
		d.Group = d.Groups[0]
	}
	status := http.StatusOK
	if d.Configured && d.Group != "" {
		rep, err := u.diagnoseGroup(ctx, d.Group, d.Since)
		if err != nil {
			d.Err = err.Error()
			status = queryErrorStatus(err, http.StatusBadRequest)
		}
		d.Report = rep
	}
	if d.Configured && d.Path.Given {
		var err error
		if d.PathResult, err = u.checkPath(d.Path); err != nil {
			d.PathErr = err.Error()
		}
	}
	u.pages.render(w, status, "diagnose", d)
}

func (u *UI) diagnoseGroup(ctx context.Context, group, since string) (*diagnose.Report, error) {
	dur, err := insights.ParseDuration(since)
	if err != nil {
		return nil, fmt.Errorf("time range: %w", err)
	}
	end := time.Now()
	return u.mods.diagnose.rejects(ctx, group, end.Add(-dur), end)
}

// checkPath reads the form as the API reads its parameters.
func (u *UI) checkPath(f pathForm) (*diagnose.Result, error) {
	p := diagnose.PathParams{Src: f.Src, Dst: f.Dst, Protocol: f.Protocol, ICMPType: -1, ICMPCode: -1}
	for _, n := range []struct {
		name, text string
		to         *int
	}{{"dst-port", f.DstPort, &p.DstPort}, {"src-port", f.SrcPort, &p.SrcPort}} {
		*n.to = -1
		if n.text == "" {
			continue
		}
		v, err := strconv.Atoi(n.text)
		if err != nil {
			return nil, fmt.Errorf("%s %q: not a number", n.name, n.text)
		}
		*n.to = v
	}
	q, err := p.Query("")
	if err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), diagnose.ErrQuery.Error()+": "))
	}
	return u.mods.diagnose.path(q)
}
