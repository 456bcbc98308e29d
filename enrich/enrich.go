// Package enrich is the contract between ingest and the sources of context
// about a flow's two ends. Ingest places both ends in the topology first
// (region, zone, network, subnet, service, host group); then every
// registered provider runs, in ascending Order, and may complete the
// locations (GeoIP/ASN) or add named attributes (Kubernetes namespace,
// cloud tags). Attributes are stored with the flow's resource key, so
// insights can group by them and queries over flowlens/flows read them as
// local.attr.NAME and remote.attr.NAME, with no change elsewhere.
package enrich

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"sync"

	"github.com/flowlens/flowlens/topology"
)

// Orders of the known providers; a new provider picks its place between
// them. Topology placement is not a provider: it always comes first.
const (
	OrderGeoIP      = 100
	OrderKubernetes = 200
	OrderCloudTags  = 300
)

// Endpoint is one end of a flow as providers see it.
type Endpoint struct {
	IP  netip.Addr
	Loc *topology.Location
}

// Set adds or replaces one attribute (an empty value removes it).
func (e Endpoint) Set(name, value string) { e.Loc.Attrs = e.Loc.Attrs.With(name, value) }

// Flow is what a provider enriches: both ends, and the reporting host.
type Flow struct {
	HostID string
	Local  Endpoint
	Remote Endpoint
}

// Provider adds context to flows.
type Provider struct {
	// Name identifies the provider in logs and errors.
	Name string
	// Order places it in the chain (lower first; see OrderGeoIP...).
	Order int
	// Attributes are the attribute names it may set (checked at
	// registration: lower case, digits, '_'; each name belongs to one
	// provider).
	Attributes []string
	// Enrich runs for every flow in the ingest handler goroutines,
	// concurrently: it must be safe for that and quick (cache lookups).
	Enrich func(f *Flow)
}

// ErrProvider marks a provider the chain refuses (a wiring mistake).
var ErrProvider = errors.New("enrichment provider")

// Chain runs the registered providers in order.
type Chain struct {
	mu        sync.Mutex
	providers []Provider
	owner     map[string]string // attribute name -> provider
	run       []func(*Flow)     // the Enrich funcs, in order; fixed once ingest starts reading
}

// Register adds a provider. Register everything before ingest starts.
func (c *Chain) Register(p Provider) error {
	if p.Name == "" || p.Enrich == nil {
		return fmt.Errorf("%w: a provider needs a name and an Enrich function", ErrProvider)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.owner == nil {
		c.owner = map[string]string{}
	}
	for _, q := range c.providers {
		if q.Name == p.Name {
			return fmt.Errorf("%w: %s registered twice", ErrProvider, p.Name)
		}
	}
	for _, a := range p.Attributes {
		if err := topology.CheckAttrName(a); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrProvider, p.Name, err)
		}
		if o, ok := c.owner[a]; ok {
			return fmt.Errorf("%w: %s: attribute %s is already %s's", ErrProvider, p.Name, a, o)
		}
	}
	for _, a := range p.Attributes {
		c.owner[a] = p.Name
	}
	c.providers = append(c.providers, p)
	sort.SliceStable(c.providers, func(i, j int) bool { return c.providers[i].Order < c.providers[j].Order })
	c.run = make([]func(*Flow), len(c.providers))
	for i, q := range c.providers {
		c.run[i] = q.Enrich
	}
	return nil
}

// Providers lists the registered providers in the order they run.
func (c *Chain) Providers() []Provider {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Provider(nil), c.providers...)
}

// Attributes lists every declared attribute name with its provider.
func (c *Chain) Attributes() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]string, len(c.owner))
	for k, v := range c.owner {
		out[k] = v
	}
	return out
}

// Runner returns the providers' functions in order, for the hot path (nil
// when none is registered, so ingest skips building a Flow).
func (c *Chain) Runner() []func(*Flow) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.run
}
