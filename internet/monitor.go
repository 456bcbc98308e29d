package internet

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/flowlens/flowlens/internal/apierr"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

// Defaults of a monitor, as in the cloud's Internet Monitor.
const (
	DefaultPeriod           = 5 * time.Minute
	MinPeriod               = time.Minute
	DefaultOverallThreshold = 95.0
	DefaultLocalThreshold   = 60.0
	DefaultMinTrafficImpact = 0.1 // percent of the monitor's traffic
	DefaultTrafficShare     = 100.0
)

// Monitor says which local resources' internet traffic counts and how
// much of it to track.
type Monitor struct {
	Name string `json:"name"`
	// PeriodSeconds is the measurement period (default 300, minimum 60).
	PeriodSeconds int64 `json:"period_seconds"`
	// Networks, Subnets and HostGroups narrow the local side; all empty
	// means every local resource.
	Networks   []string `json:"networks,omitempty"`
	Subnets    []string `json:"subnets,omitempty"`
	HostGroups []string `json:"host_groups,omitempty"`
	// TrafficShare is the percentage of traffic to track (largest
	// city-networks first); MaxCityNetworks caps their number (0: no cap).
	TrafficShare    float64 `json:"traffic_share"`
	MaxCityNetworks int     `json:"max_city_networks"`
	// OverallThreshold opens AVAILABILITY/PERFORMANCE events when the
	// overall score falls under it; LocalThreshold opens LOCAL_ events when
	// a city-network's does and its impact is at least MinTrafficImpact
	// percent of the monitor's traffic.
	OverallThreshold float64   `json:"overall_threshold"`
	LocalThreshold   float64   `json:"local_threshold"`
	MinTrafficImpact float64   `json:"min_traffic_impact"`
	CreatedAt        time.Time `json:"created_at"`
}

// Period is PeriodSeconds as a duration.
func (m *Monitor) Period() time.Duration { return time.Duration(m.PeriodSeconds) * time.Second }

// ErrInvalid marks a monitor definition that cannot be used.
var ErrInvalid = apierr.Invalid("invalid internet monitor")

// ErrNotFound marks an unknown monitor.
var ErrNotFound = apierr.NotFound("internet monitor not found")

// ErrExists marks a name already in use.
var ErrExists = apierr.Exists("internet monitor already exists")

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// normalize applies defaults and checks the definition; minPeriod is the
// server's floor (MinPeriod outside tests).
func (m *Monitor) normalize(minPeriod time.Duration) error {
	if !validName.MatchString(m.Name) {
		return fmt.Errorf("%w: name %q: use letters, digits, '.', '_' or '-' (up to 63)", ErrInvalid, m.Name)
	}
	if m.PeriodSeconds == 0 {
		m.PeriodSeconds = int64(DefaultPeriod / time.Second)
	}
	if m.Period() < minPeriod {
		return fmt.Errorf("%w: period %s is under the minimum %s", ErrInvalid, m.Period(), minPeriod)
	}
	if m.Period() > 24*time.Hour {
		return fmt.Errorf("%w: period %s is over 24h", ErrInvalid, m.Period())
	}
	if m.TrafficShare == 0 {
		m.TrafficShare = DefaultTrafficShare
	}
	if m.OverallThreshold == 0 {
		m.OverallThreshold = DefaultOverallThreshold
	}
	if m.LocalThreshold == 0 {
		m.LocalThreshold = DefaultLocalThreshold
	}
	if m.MinTrafficImpact == 0 {
		m.MinTrafficImpact = DefaultMinTrafficImpact
	}
	for name, v := range map[string]float64{"traffic_share": m.TrafficShare, "overall_threshold": m.OverallThreshold,
		"local_threshold": m.LocalThreshold, "min_traffic_impact": m.MinTrafficImpact} {
		if v < 0 || v > 100 {
			return fmt.Errorf("%w: %s %g is not a percentage (0-100)", ErrInvalid, name, v)
		}
	}
	if m.MaxCityNetworks < 0 {
		return fmt.Errorf("%w: max_city_networks %d is negative", ErrInvalid, m.MaxCityNetworks)
	}
	return nil
}

// check verifies that the named local resources exist in the topology.
func (m *Monitor) check(t *topology.Topology) error {
	var errs []error
	for kind, ids := range map[string][]string{topology.ResourceNetwork: m.Networks, topology.ResourceSubnet: m.Subnets,
		topology.ResourceHostGroup: m.HostGroups} {
		for _, id := range ids {
			if err := t.Resolve(topology.Resource{Kind: kind, ID: id}); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return nil
}

// matches says whether a stored flow counts for the monitor: its remote
// end is on the internet and its local end is in scope.
func (m *Monitor) matches(r *store.FlowRow) bool {
	if r.Remote.Kind != topology.KindInternet {
		return false
	}
	if len(m.Networks) == 0 && len(m.Subnets) == 0 && len(m.HostGroups) == 0 {
		return true
	}
	return slices.Contains(m.Networks, r.Local.Network) || slices.Contains(m.Subnets, r.Local.Subnet) ||
		(r.Local.HostGroup != "" && slices.Contains(m.HostGroups, r.Local.HostGroup))
}
