package web

import (
	"net/http"
	"time"
)

type agentsData struct {
	base
	Agents    []agentRow
	Reporting int
}

func (u *UI) handleAgents(w http.ResponseWriter, r *http.Request) {
	d := agentsData{base: baseFor(r, "Agents", "agents")}
	if u.deps.Agents != nil {
		d.Agents = agentRows(u.deps.Agents.List(), time.Now())
	}
	for _, a := range d.Agents {
		if a.State == "REPORTING" {
			d.Reporting++
		}
	}
	u.pages.render(w, http.StatusOK, "agents", d)
}
