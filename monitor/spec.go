// Package monitor runs monitors: named scopes of local resources (subnets,
// networks, zones, regions, host groups) and remote resources (the same,
// services, the internet, or everywhere), evaluated every period from the
// flows that match them. Each evaluation publishes metric points
// (namespace FlowLens/Monitors), Prometheus gauges, the top contributors
// with their paths, and the network health indicator with its evidence
// (package health).
package monitor

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/flowlens/flowlens/internal/apierr"
	"github.com/flowlens/flowlens/internal/pathseg"
	"github.com/flowlens/flowlens/topology"
)

// Period bounds.
const (
	DefaultPeriod = time.Minute
	MinPeriod     = 10 * time.Second
	MaxPeriod     = time.Hour
)

// Status of a monitor.
const (
	StatusPending = "pending" // created, not evaluated yet
	StatusActive  = "active"  // evaluated
	StatusError   = "error"   // its resources no longer exist in the topology
)

// Sources of a monitor definition.
const (
	SourceAPI    = "api"
	SourceConfig = "config"
)

// ErrInvalid marks a definition that cannot be accepted; ErrNotFound and
// ErrExists the obvious conditions.
var (
	ErrInvalid  = apierr.Invalid("invalid monitor")
	ErrNotFound = apierr.NotFound("no such monitor")
	ErrExists   = apierr.Exists("monitor already exists")
)

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,255}$`)

// Spec is what a user defines.
type Spec struct {
	Name   string
	Local  []topology.Resource
	Remote []topology.Resource // empty: everywhere
	Period time.Duration
}

// localKinds are the resource kinds a monitor's local side may name: the
// places agents run.
var localKinds = map[string]bool{topology.ResourceSubnet: true, topology.ResourceNetwork: true,
	topology.ResourceZone: true, topology.ResourceRegion: true, topology.ResourceHostGroup: true}

// ParseSpec builds a spec from the text forms the API, the CLI and the
// config file use; period "" means the default.
func ParseSpec(name string, local, remote []string, period string) (Spec, error) {
	s := Spec{Name: name, Period: DefaultPeriod}
	if period != "" {
		d, err := time.ParseDuration(period)
		if err != nil {
			return s, fmt.Errorf("%w: period %q: want a duration such as 60s or 5m", ErrInvalid, period)
		}
		s.Period = d
	}
	for i, r := range local {
		res, err := topology.ParseResource(r)
		if err != nil {
			return s, fmt.Errorf("%w: local[%d]: %v", ErrInvalid, i, err)
		}
		s.Local = append(s.Local, res)
	}
	for i, r := range remote {
		if strings.TrimSpace(r) == "everywhere" {
			continue
		}
		res, err := topology.ParseResource(r)
		if err != nil {
			return s, fmt.Errorf("%w: remote[%d]: %v", ErrInvalid, i, err)
		}
		s.Remote = append(s.Remote, res)
	}
	return s, nil
}

// Validate checks the name, the period and the kinds, and that every
// resource exists in t (when t is not nil).
func (s *Spec) Validate(t *topology.Topology) error {
	if !nameRE.MatchString(s.Name) || pathseg.Dot(s.Name) {
		return fmt.Errorf("%w: name %q: use 1-255 letters, digits, '_', '.' or '-' (not \".\" or \"..\", which URLs cannot carry)", ErrInvalid, s.Name)
	}
	if s.Period == 0 {
		s.Period = DefaultPeriod
	}
	if s.Period < MinPeriod || s.Period > MaxPeriod {
		return fmt.Errorf("%w: period %s: want %s to %s", ErrInvalid, s.Period, MinPeriod, MaxPeriod)
	}
	if s.Period%time.Second != 0 {
		return fmt.Errorf("%w: period %s: want whole seconds", ErrInvalid, s.Period)
	}
	if len(s.Local) == 0 {
		return fmt.Errorf("%w: at least one local resource is needed (subnet, network, zone, region or host-group)", ErrInvalid)
	}
	for i, r := range s.Local {
		if !localKinds[r.Kind] {
			return fmt.Errorf("%w: local[%d] %q: a local resource is a subnet, network, zone, region or host-group", ErrInvalid, i, r)
		}
		if t != nil {
			if err := t.Resolve(r); err != nil {
				return fmt.Errorf("%w: local[%d]: %v", ErrInvalid, i, err)
			}
		}
	}
	for i, r := range s.Remote {
		if t != nil {
			if err := t.Resolve(r); err != nil {
				return fmt.Errorf("%w: remote[%d]: %v", ErrInvalid, i, err)
			}
		}
	}
	return nil
}

// Matches says whether a flow with these ends belongs to the monitor: its
// local end in one of the local resources and its remote end in one of the
// remote resources (any remote end when there are none).
func (s *Spec) Matches(local, remote topology.Location) bool {
	in := false
	for _, r := range s.Local {
		if r.Matches(local) {
			in = true
			break
		}
	}
	if !in {
		return false
	}
	if len(s.Remote) == 0 {
		return true
	}
	for _, r := range s.Remote {
		if r.Matches(remote) {
			return true
		}
	}
	return false
}

func resourceStrings(rs []topology.Resource) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}
