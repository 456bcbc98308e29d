package topology

import (
	"net/netip"

	"github.com/gaissmai/bart"
)

// Topology is a checked, indexed model of the user's network. It comes from
// Parse, Load, ImportAWS or Empty and must not be modified afterwards: the
// lookup tables are built once from the exported slices, and leaving both
// alone is what makes a Topology safe for any number of concurrent readers
// (ingest resolves every flow endpoint from many goroutines).
//
// Zones appear grouped by region and subnets grouped by network, in the order
// of the file, so that writing a Topology back out keeps its layout.
type Topology struct {
	Regions    []Region    `json:"regions"`
	Zones      []Zone      `json:"zones"`
	Networks   []Network   `json:"networks"`
	Subnets    []Subnet    `json:"subnets"`
	Services   []Service   `json:"services"`
	HostGroups []HostGroup `json:"host_groups"`
	// InternetCIDRs are ranges treated as internet even though they are
	// private or reserved (lab "internet" hosts on documentation addresses).
	// Public addresses are internet without being listed.
	InternetCIDRs []netip.Prefix `json:"internet_cidrs"`

	idx index
}

// Region is a geographic area holding zones and networks.
type Region struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Zone is a failure domain (an availability zone, a data-centre hall) inside
// one region.
type Zone struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	Region string `json:"region"`
}

// Network is one routing domain (a VPC, a data-centre fabric). It lives in one
// region and may span that region's zones through its subnets.
type Network struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	Region string `json:"region"`
}

// Subnet is a set of address ranges in one network and one zone: the unit
// every flow endpoint is placed in.
type Subnet struct {
	ID      string `json:"id"`
	Name    string `json:"name,omitempty"`
	Network string `json:"network"`
	Zone    string `json:"zone"`
	// Region is the network's region, repeated here so that a lookup answer
	// needs no second step.
	Region string         `json:"region"`
	CIDRs  []netip.Prefix `json:"cidrs"`
}

// Service is a named remote endpoint known by its address ranges (an object
// store, a managed database, a cloud provider's service prefixes).
type Service struct {
	ID    string         `json:"id"`
	Name  string         `json:"name,omitempty"`
	CIDRs []netip.Prefix `json:"cidrs"`
}

// HostGroup names a set of hosts, by host id (as the agents report it) and/or
// by address range, so that monitors can select a workload rather than a
// subnet.
type HostGroup struct {
	ID    string         `json:"id"`
	Name  string         `json:"name,omitempty"`
	Hosts []string       `json:"hosts,omitempty"`
	CIDRs []netip.Prefix `json:"cidrs,omitempty"`
}

// index holds what Lookup, HostGroupOf and Resolve need, derived from the
// exported slices once at load. The prefix tables are bart.Fast: built once,
// read twice per flow, so lookup speed matters more than their memory.
type index struct {
	built      bool
	ids        map[string]map[string]int // resource kind -> id -> declaration order
	hostGroup  map[string]string         // host id -> host group id
	subnets    *bart.Fast[uint32]        // -> subnetLoc
	subnetLoc  []Location
	services   *bart.Fast[uint32] // -> Services
	groups     *bart.Fast[uint32] // -> HostGroups
	internet   *bart.Lite         // InternetCIDRs; nil when none
	reserved   *bart.Lite         // non-public ranges
	hasGroups  bool
	hasService bool
}

// Empty returns a topology with nothing declared: every public address is
// internet and every other one unknown. It is what a server runs with before
// the user writes a topology file.
func Empty() *Topology {
	t := &Topology{}
	t.build()
	return t
}
