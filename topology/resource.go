package topology

import (
	"errors"
	"fmt"
	"strings"
)

// Resource kinds, as written in references such as "subnet:web-a".
const (
	ResourceSubnet    = "subnet"
	ResourceZone      = "zone"
	ResourceNetwork   = "network"
	ResourceRegion    = "region"
	ResourceService   = "service"
	ResourceHostGroup = "host-group"
	ResourceInternet  = "internet" // takes no id
)

// ErrUnknownResource is returned (wrapped) by Resolve when the topology has
// no part with the referenced id, so that callers can tell a stale monitor
// from a malformed one.
var ErrUnknownResource = errors.New("unknown resource")

// Resource references one part of the topology (or the internet) in a
// monitor's local or remote side.
type Resource struct {
	Kind string // one of the Resource* constants
	ID   string // empty for ResourceInternet
}

// kindAliases maps accepted spellings to kinds; the cloud names are there
// for users who think in VPCs and AZs.
var kindAliases = map[string]string{
	ResourceSubnet: ResourceSubnet, ResourceZone: ResourceZone, ResourceNetwork: ResourceNetwork,
	ResourceRegion: ResourceRegion, ResourceService: ResourceService, ResourceHostGroup: ResourceHostGroup,
	"host_group": ResourceHostGroup, "vpc": ResourceNetwork, "az": ResourceZone,
}

// ParseResource reads "kind:id" ("subnet:web-a", "host-group:frontends") or
// "internet". It checks the form only; Resolve checks the id exists.
func ParseResource(s string) (Resource, error) {
	s = strings.TrimSpace(s)
	if s == ResourceInternet {
		return Resource{Kind: ResourceInternet}, nil
	}
	k, id, ok := strings.Cut(s, ":")
	if !ok {
		return Resource{}, fmt.Errorf("resource %q: want kind:id (subnet, zone, network, region, service, host-group) or internet", s)
	}
	kind, ok := kindAliases[k]
	if !ok {
		if k == ResourceInternet {
			return Resource{}, fmt.Errorf("resource %q: internet takes no id", s)
		}
		return Resource{}, fmt.Errorf("resource %q: unknown kind %q (want subnet, zone, network, region, service, host-group or internet)", s, k)
	}
	if !validID.MatchString(id) {
		return Resource{}, fmt.Errorf("resource %q: invalid id %q", s, id)
	}
	return Resource{Kind: kind, ID: id}, nil
}

// String is the form ParseResource reads.
func (r Resource) String() string {
	if r.Kind == ResourceInternet {
		return ResourceInternet
	}
	return r.Kind + ":" + r.ID
}

// MarshalText lets a Resource appear as "kind:id" in YAML and JSON.
func (r Resource) MarshalText() ([]byte, error) {
	return []byte(r.String()), nil
}

// UnmarshalText reads the form of ParseResource.
func (r *Resource) UnmarshalText(b []byte) error {
	v, err := ParseResource(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Resolve checks that the topology has the referenced part. The error
// lists the ids it does have, so that a typo in a monitor is obvious.
func (t *Topology) Resolve(r Resource) error {
	if r.Kind == ResourceInternet {
		return nil
	}
	if _, ok := kindAliases[r.Kind]; !ok || r.Kind != kindAliases[r.Kind] {
		return fmt.Errorf("resource %q: unknown kind %q", r.String(), r.Kind)
	}
	ids := t.idx.ids[r.Kind]
	if _, ok := ids[r.ID]; ok {
		return nil
	}
	plural := strings.ReplaceAll(r.Kind, "-", " ") + "s"
	if len(ids) == 0 {
		return fmt.Errorf("%w: no %s %q in the topology (no %s are declared)", ErrUnknownResource, r.Kind, r.ID, plural)
	}
	return fmt.Errorf("%w: no %s %q in the topology (known %s: %s)", ErrUnknownResource, r.Kind, r.ID, plural, listIDs(ids))
}

// Matches reports whether a resolved address belongs to the resource. It
// compares the location's fields rather than its Kind where it can, because
// locations read back from the store carry only their resource fields.
func (r Resource) Matches(loc Location) bool {
	if r.Kind == ResourceInternet {
		return loc.Kind == KindInternet
	}
	if r.ID == "" {
		return false
	}
	switch r.Kind {
	case ResourceSubnet:
		return loc.Subnet == r.ID
	case ResourceZone:
		return loc.Zone == r.ID
	case ResourceNetwork:
		return loc.Network == r.ID
	case ResourceRegion:
		return loc.Region == r.ID
	case ResourceService:
		return loc.Service == r.ID
	case ResourceHostGroup:
		return loc.HostGroup == r.ID
	}
	return false
}
