package topology

import (
	"net/netip"

	"github.com/gaissmai/bart"
)

// reservedRanges are the ranges that are not the public internet. An address
// in one of them that no subnet, service or internet range declares is
// KindUnknown: it is somebody's private network that the topology does not
// describe, and calling it "internet" would misfile the traffic.
var reservedRanges = [...]string{
	"0.0.0.0/8",       // "this network"
	"10.0.0.0/8",      // RFC 1918
	"100.64.0.0/10",   // CGNAT, RFC 6598
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local
	"172.16.0.0/12",   // RFC 1918
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // TEST-NET-1, documentation
	"192.168.0.0/16",  // RFC 1918
	"198.18.0.0/15",   // benchmarking, RFC 2544
	"198.51.100.0/24", // TEST-NET-2, documentation
	"203.0.113.0/24",  // TEST-NET-3, documentation
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, and broadcast
	"::/128",          // unspecified
	"::1/128",         // loopback
	"100::/64",        // discard-only, RFC 6666
	"2001:db8::/32",   // documentation
	"3fff::/20",       // documentation, RFC 9637
	"fc00::/7",        // unique local addresses
	"fe80::/10",       // link-local
	"ff00::/8",        // multicast
	"64:ff9b:1::/48",  // local-use NAT64, RFC 8215
	"2001:2::/48",     // benchmarking, RFC 5180
}

// build derives the lookup tables from the exported slices. It is called
// once, by the constructors, before the Topology is shared.
func (t *Topology) build() {
	ix := index{
		built:     true,
		ids:       map[string]map[string]int{},
		hostGroup: map[string]string{},
		subnets:   &bart.Fast[uint32]{},
		services:  &bart.Fast[uint32]{},
		groups:    &bart.Fast[uint32]{},
		reserved:  &bart.Lite{},
	}
	for _, s := range reservedRanges {
		ix.reserved.Insert(netip.MustParsePrefix(s))
	}
	t.indexIDs(&ix)
	ix.subnetLoc = make([]Location, len(t.Subnets))
	for i, s := range t.Subnets {
		ix.subnetLoc[i] = t.subnetLocation(s)
		for _, p := range s.CIDRs {
			ix.subnets.Insert(p, uint32(i))
		}
	}
	for i, s := range t.Services {
		for _, p := range s.CIDRs {
			ix.services.Insert(p, uint32(i))
			ix.hasService = true
		}
	}
	for i, g := range t.HostGroups {
		for _, p := range g.CIDRs {
			ix.groups.Insert(p, uint32(i))
			ix.hasGroups = true
		}
		for _, h := range g.Hosts {
			ix.hostGroup[h] = g.ID
		}
	}
	if len(t.InternetCIDRs) > 0 {
		ix.internet = &bart.Lite{}
		for _, p := range t.InternetCIDRs {
			ix.internet.Insert(p)
		}
	}
	t.idx = ix
}

// indexIDs records the ids of every kind, with their declaration order, for
// Resolve.
func (t *Topology) indexIDs(ix *index) {
	add := func(kind, id string) {
		m := ix.ids[kind]
		if m == nil {
			m = map[string]int{}
			ix.ids[kind] = m
		}
		if _, ok := m[id]; !ok {
			m[id] = len(m)
		}
	}
	for _, r := range t.Regions {
		add(ResourceRegion, r.ID)
	}
	for _, z := range t.Zones {
		add(ResourceZone, z.ID)
	}
	for _, n := range t.Networks {
		add(ResourceNetwork, n.ID)
	}
	for _, s := range t.Subnets {
		add(ResourceSubnet, s.ID)
	}
	for _, s := range t.Services {
		add(ResourceService, s.ID)
	}
	for _, g := range t.HostGroups {
		add(ResourceHostGroup, g.ID)
	}
}

// subnetLocation is the answer for every address of s, computed once so that
// Lookup only copies it.
func (t *Topology) subnetLocation(s Subnet) Location {
	return Location{Kind: KindSubnet, Subnet: s.ID, Network: s.Network, Zone: s.Zone, Region: s.Region}
}

// Lookup places one address: in a subnet (with its network, zone and region),
// in a named service, on the internet, or nowhere known. The host group is
// filled in from host group ranges whatever the kind. IPv4-mapped IPv6
// addresses are treated as the IPv4 address they carry, because dual-stack
// sockets report IPv4 peers that way.
//
// Lookup does not allocate; it is called for both ends of every flow.
func (t *Topology) Lookup(ip netip.Addr) (loc Location) {
	if !ip.IsValid() || !t.idx.built {
		return loc
	}
	ip = ip.Unmap()
	t.place(ip, &loc)
	if t.idx.hasGroups {
		if i, ok := t.idx.groups.Lookup(ip); ok {
			loc.HostGroup = t.HostGroups[i].ID
		}
	}
	return loc
}

// place finds the kind of an address, declared ranges first: a subnet, then a
// service (they cannot overlap in a checked topology), then the declared
// internet ranges, and only then the built-in private/public split. It fills
// *loc in place because Location is large and Lookup runs per flow end.
func (t *Topology) place(ip netip.Addr, loc *Location) {
	if i, ok := t.idx.subnets.Lookup(ip); ok {
		*loc = t.idx.subnetLoc[i]
		return
	}
	if t.idx.hasService {
		if i, ok := t.idx.services.Lookup(ip); ok {
			loc.Kind, loc.Service = KindService, t.Services[i].ID
			return
		}
	}
	switch {
	case t.idx.internet != nil && t.idx.internet.Contains(ip):
		loc.Kind = KindInternet
	case t.idx.reserved.Contains(ip):
		loc.Kind = KindUnknown
	default:
		loc.Kind = KindInternet
	}
}

// HostGroupOf returns the host group that lists hostID in its hosts, or "".
// Agents report their host id, so ingest uses this for the local end of a
// flow and falls back to the address ranges Lookup matched.
func (t *Topology) HostGroupOf(hostID string) string {
	return t.idx.hostGroup[hostID]
}
