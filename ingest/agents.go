package ingest

import (
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	pb "github.com/flowlens/flowlens/wire/flowlensv1"
)

// AgentInfo is what the server knows of one reporting agent.
type AgentInfo struct {
	AgentID   string   `json:"agent_id"`
	HostID    string   `json:"host_id"`
	Hostname  string   `json:"hostname"`
	Addresses []string `json:"addresses"`
	// AddressesOmitted counts the addresses beyond MaxAgentAddresses.
	AddressesOmitted int       `json:"addresses_omitted,omitempty"`
	AgentVersion     string    `json:"agent_version"`
	CollectorMode    string    `json:"collector_mode"`
	LastSeen         time.Time `json:"last_seen"`
	LastSequence     uint64    `json:"last_sequence"`
	Reports          uint64    `json:"reports"`
}

// What the registry keeps of an agent's self-description: it is shown in
// the UI and the API, never stored, so longer values are cut, not refused
// (wire.Validate already refuses host ids over 256 bytes and host fields
// over 1 MiB in all).
const (
	MaxAgentHostnameLen = 253 // a DNS name
	MaxAgentVersionLen  = 64
	MaxAgentModeLen     = 32
	MaxAgentAddresses   = 16
)

// AgentsConfig bounds the agent registry.
type AgentsConfig struct {
	// MaxAgents is how many agents the registry holds; a new agent beyond
	// it is not listed (its reports are still stored) until others expire.
	MaxAgents int
	// IdleExpiry forgets agents that have not reported for this long.
	IdleExpiry time.Duration
}

// DefaultAgentsConfig holds a large fleet and forgets agents after a week.
func DefaultAgentsConfig() AgentsConfig {
	return AgentsConfig{MaxAgents: 100_000, IdleExpiry: 7 * 24 * time.Hour}
}

// Agents tracks the agents that reported since the server started.
type Agents struct {
	cfg    AgentsConfig
	mu     sync.Mutex
	agents map[string]*AgentInfo
	swept  time.Time // last expiry sweep
}

// NewAgents returns an empty registry with the default limits.
func NewAgents() *Agents { return NewAgentsWith(AgentsConfig{}) }

// NewAgentsWith returns an empty registry; zero fields take the defaults.
func NewAgentsWith(cfg AgentsConfig) *Agents {
	def := DefaultAgentsConfig()
	if cfg.MaxAgents <= 0 {
		cfg.MaxAgents = def.MaxAgents
	}
	if cfg.IdleExpiry <= 0 {
		cfg.IdleExpiry = def.IdleExpiry
	}
	return &Agents{cfg: cfg, agents: map[string]*AgentInfo{}}
}

// Seen records a report's host metadata. It returns false when the agent is
// new and the registry is full.
func (a *Agents) Seen(r *pb.Report, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expire(now)
	info := a.agents[r.AgentId]
	if info == nil {
		if len(a.agents) >= a.cfg.MaxAgents {
			return false
		}
		info = &AgentInfo{AgentID: r.AgentId}
		a.agents[r.AgentId] = info
	}
	if h := r.Host; h != nil {
		info.HostID, info.Hostname = h.HostId, clip(h.Hostname, MaxAgentHostnameLen)
		info.AgentVersion = clip(h.AgentVersion, MaxAgentVersionLen)
		info.CollectorMode = clip(h.CollectorMode, MaxAgentModeLen)
		info.Addresses, info.AddressesOmitted = info.Addresses[:0], 0
		for _, b := range h.Addresses {
			ip, ok := netip.AddrFromSlice(b)
			switch {
			case !ok:
			case len(info.Addresses) < MaxAgentAddresses:
				info.Addresses = append(info.Addresses, ip.Unmap().String())
			default:
				info.AddressesOmitted++
			}
		}
	}
	info.LastSeen = now
	info.LastSequence = r.Sequence
	info.Reports++
	return true
}

// expire forgets idle agents, at most once a minute (a sweep is a pass
// over the map).
func (a *Agents) expire(now time.Time) {
	if now.Sub(a.swept) < time.Minute {
		return
	}
	a.swept = now
	for id, info := range a.agents {
		if now.Sub(info.LastSeen) > a.cfg.IdleExpiry {
			delete(a.agents, id)
		}
	}
}

// Len is the number of agents held.
func (a *Agents) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.agents)
}

// List returns a copy of every agent seen within the idle expiry, sorted
// by id.
func (a *Agents) List() []AgentInfo {
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]AgentInfo, 0, len(a.agents))
	for _, info := range a.agents {
		if now.Sub(info.LastSeen) > a.cfg.IdleExpiry {
			continue
		}
		c := *info
		c.Addresses = append([]string(nil), info.Addresses...)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AgentID < out[j].AgentID })
	return out
}

// clip cuts s to at most n bytes without splitting a character.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
