package lab

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Status is what `lab status` reports.
type Status struct {
	Name        string       `json:"name"`
	StateFile   string       `json:"state_file"`
	StateDir    string       `json:"state_dir"`
	Created     time.Time    `json:"created"`
	Complete    bool         `json:"complete"`
	Link        string       `json:"link"`
	Routers     []Router     `json:"routers"`
	Hosts       []HostStatus `json:"hosts"`
	Impairments []Impairment `json:"impairments"`
	// Drops counts the packets the loss rules dropped, by target.
	Drops     map[string]int `json:"drops,omitempty"`
	Processes []ProcStatus   `json:"processes"`
	Agents    *AgentConfig   `json:"agents,omitempty"`
}

// HostStatus is a host and whether its namespace and cgroup exist.
type HostStatus struct {
	Host
	NetnsUp  bool `json:"netns_up"`
	CgroupUp bool `json:"cgroup_up"`
}

// Status reports the lab: hosts, addresses, impairments (with the packets
// each nft rule dropped so far) and recorded processes.
func (l *Lab) Status(ctx context.Context) Status {
	st := l.snapshot()
	s := Status{
		Name: st.Name, StateFile: stateFile(l.cfg.StateRoot, st.Name), StateDir: st.StateDir,
		Created: st.Created, Complete: st.Complete, Link: st.Spec.Link, Routers: st.Spec.Routers,
		Impairments: st.Impairments, Processes: l.Processes(), Agents: st.Agents,
	}
	for _, h := range st.Spec.Hosts {
		_, nerr := os.Stat(filepath.Join("/run/netns", h.Name))
		_, cerr := os.Stat(h.Cgroup)
		s.Hosts = append(s.Hosts, HostStatus{Host: h, NetnsUp: nerr == nil, CgroupUp: cerr == nil})
	}
	s.Drops = l.drops(ctx, st)
	return s
}

var dropRE = regexp.MustCompile(`counter packets ([0-9]+) bytes [0-9]+ drop comment "([^"]*)"`)

// drops sums the nft drop counters per rule comment across namespaces.
func (l *Lab) drops(ctx context.Context, st State) map[string]int {
	if len(st.Impairments) == 0 {
		return nil
	}
	out := map[string]int{}
	for _, ns := range st.Namespaces {
		txt, err := l.r.run(ctx, "ip", "netns", "exec", ns, "nft", "list", "table", "netdev", NftTable)
		if err != nil {
			continue
		}
		for _, m := range dropRE.FindAllStringSubmatch(txt, -1) {
			n, _ := strconv.Atoi(m[1])
			target, _, _ := strings.Cut(m[2], " loss ")
			out[target] += n
		}
	}
	return out
}
