package ingest

import (
	"net/netip"
	"sort"
	"sync"
	"time"

	pb "github.com/flowlens/flowlens/wire/flowlensv1"
)

// AgentInfo is what the server knows of one reporting agent.
type AgentInfo struct {
	AgentID       string    `json:"agent_id"`
	HostID        string    `json:"host_id"`
	Hostname      string    `json:"hostname"`
	Addresses     []string  `json:"addresses"`
	AgentVersion  string    `json:"agent_version"`
	CollectorMode string    `json:"collector_mode"`
	LastSeen      time.Time `json:"last_seen"`
	LastSequence  uint64    `json:"last_sequence"`
	Reports       uint64    `json:"reports"`
}

// Agents tracks the agents that reported since the server started.
type Agents struct {
	mu     sync.Mutex
	agents map[string]*AgentInfo
}

// NewAgents returns an empty registry.
func NewAgents() *Agents { return &Agents{agents: map[string]*AgentInfo{}} }

// Seen records a report's host metadata.
func (a *Agents) Seen(r *pb.Report, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	info := a.agents[r.AgentId]
	if info == nil {
		info = &AgentInfo{AgentID: r.AgentId}
		a.agents[r.AgentId] = info
	}
	if h := r.Host; h != nil {
		info.HostID, info.Hostname = h.HostId, h.Hostname
		info.AgentVersion, info.CollectorMode = h.AgentVersion, h.CollectorMode
		info.Addresses = info.Addresses[:0]
		for _, b := range h.Addresses {
			if ip, ok := netip.AddrFromSlice(b); ok {
				info.Addresses = append(info.Addresses, ip.Unmap().String())
			}
		}
	}
	info.LastSeen = now
	info.LastSequence = r.Sequence
	info.Reports++
}

// List returns a copy of every agent, sorted by id.
func (a *Agents) List() []AgentInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]AgentInfo, 0, len(a.agents))
	for _, info := range a.agents {
		c := *info
		c.Addresses = append([]string(nil), info.Addresses...)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AgentID < out[j].AgentID })
	return out
}
