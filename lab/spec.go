package lab

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
)

// DefaultName is the lab name used when none is given; every namespace the
// lab creates starts with it ("fl-a1-h1", "fl-ra").
const DefaultName = "fl"

// nameRE keeps lab names short and safe: they become namespace names,
// cgroup directory names and file names, and a leading letter keeps them
// from being mistaken for flags or numbers.
var nameRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,11}$`)

// ValidateName reports whether name can be used as a lab name.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("lab name %q: want a lowercase letter then up to 11 lowercase letters or digits", name)
	}
	return nil
}

// Host is one simulated host: a network namespace with one interface (eth0)
// on its subnet's bridge, and its own cgroup v2 directory.
type Host struct {
	// Name is the namespace name and the agent's host id, e.g. "fl-a1-h1".
	Name string `json:"name"`
	// Short is the name without the lab prefix, e.g. "a1-h1"; it also names
	// the host's bridge port in its router namespace.
	Short   string       `json:"short"`
	Zone    string       `json:"zone"`
	Subnet  string       `json:"subnet"`
	Addr    netip.Prefix `json:"addr"`
	Gateway netip.Addr   `json:"gateway"`
	// Router is the namespace that holds the host's bridge and routes for it.
	Router string `json:"router"`
	Bridge string `json:"bridge"`
	// Port is the bridge side of the host's veth pair, in Router.
	Port   string `json:"port"`
	Cgroup string `json:"cgroup"`
}

// IP is the host's address without the prefix length.
func (h Host) IP() netip.Addr { return h.Addr.Addr() }

// Bridge is one subnet: a Linux bridge in the zone's router namespace that
// carries the router's address on that subnet.
type Bridge struct {
	Name   string       `json:"name"`
	Subnet string       `json:"subnet"`
	Addr   netip.Prefix `json:"addr"`
}

// Router is a zone's router namespace: it holds the zone's subnet bridges
// and one end of the inter-zone link.
type Router struct {
	Name    string       `json:"name"`
	Zone    string       `json:"zone"`
	Bridges []Bridge     `json:"bridges"`
	LinkDev string       `json:"link_dev"`
	LinkIP  netip.Prefix `json:"link_ip"`
	// Routes are the other zone's subnets, reached over the link via Peer.
	Routes []netip.Prefix `json:"routes"`
	Peer   netip.Addr     `json:"peer"`
}

// Spec is the complete plan of a lab: every namespace, link and address.
// It is pure data so that it can be checked without root.
type Spec struct {
	Name    string   `json:"name"`
	Routers []Router `json:"routers"`
	Hosts   []Host   `json:"hosts"`
	// Link names the inter-zone link as "zone-a:zone-b".
	Link string `json:"link"`
}

// zonePlan is the fixed shape of the lab: it mirrors examples/topology.yaml
// so that every flow between lab hosts is classified (intra-zone within a
// zone, inter-zone across the link).
type zonePlan struct {
	id      string
	letter  string
	linkIP  string
	subnets []subnetPlan
}

type subnetPlan struct {
	id   string
	cidr string
}

var plan = []zonePlan{
	{id: "zone-a", letter: "a", linkIP: "10.255.0.1/30", subnets: []subnetPlan{{"web-a", "10.1.1.0/24"}, {"app-a", "10.1.2.0/24"}}},
	{id: "zone-b", letter: "b", linkIP: "10.255.0.2/30", subnets: []subnetPlan{{"web-b", "10.1.11.0/24"}, {"app-b", "10.1.12.0/24"}}},
}

// hostOctets are the last address bytes of the hosts in every subnet; the
// router is .1.
var hostOctets = []byte{10, 11}

// NewSpec plans the lab called name with host cgroups under cgroupRoot.
func NewSpec(name, cgroupRoot string) Spec {
	s := Spec{Name: name, Link: plan[0].id + ":" + plan[1].id}
	for zi, z := range plan {
		other := plan[1-zi]
		r := Router{
			Name:    name + "-r" + z.letter,
			Zone:    z.id,
			LinkDev: "to-" + other.id,
			LinkIP:  netip.MustParsePrefix(z.linkIP),
			Peer:    netip.MustParsePrefix(other.linkIP).Addr(),
		}
		for _, os := range other.subnets {
			r.Routes = append(r.Routes, netip.MustParsePrefix(os.cidr))
		}
		for si, sn := range z.subnets {
			p := netip.MustParsePrefix(sn.cidr)
			br := Bridge{Name: "br-" + sn.id, Subnet: sn.id, Addr: withOctet(p, 1)}
			r.Bridges = append(r.Bridges, br)
			for hi, oct := range hostOctets {
				short := fmt.Sprintf("%s%d-h%d", z.letter, si+1, hi+1)
				s.Hosts = append(s.Hosts, Host{
					Name: name + "-" + short, Short: short, Zone: z.id, Subnet: sn.id,
					Addr: withOctet(p, oct), Gateway: br.Addr.Addr(),
					Router: r.Name, Bridge: br.Name, Port: short,
					Cgroup: filepath.Join(cgroupRoot, name+"-"+short),
				})
			}
		}
		s.Routers = append(s.Routers, r)
	}
	return s
}

// withOctet returns the address of p whose last byte is b, with p's length.
func withOctet(p netip.Prefix, b byte) netip.Prefix {
	a := p.Masked().Addr().As4()
	a[3] = b
	return netip.PrefixFrom(netip.AddrFrom4(a), p.Bits())
}

// Namespaces lists every namespace of the lab, routers first.
func (s Spec) Namespaces() []string {
	var ns []string
	for _, r := range s.Routers {
		ns = append(ns, r.Name)
	}
	for _, h := range s.Hosts {
		ns = append(ns, h.Name)
	}
	return ns
}

// Host finds a host by full name ("fl-a1-h1") or short name ("a1-h1").
func (s Spec) Host(name string) (Host, bool) {
	for _, h := range s.Hosts {
		if h.Name == name || h.Short == name {
			return h, true
		}
	}
	return Host{}, false
}

// Router finds the router of a zone.
func (s Spec) Router(zone string) (Router, bool) {
	for _, r := range s.Routers {
		if r.Zone == zone {
			return r, true
		}
	}
	return Router{}, false
}

// hostNames lists the short host names, for error messages.
func (s Spec) hostNames() string {
	var n []string
	for _, h := range s.Hosts {
		n = append(n, h.Short)
	}
	return strings.Join(n, ", ")
}
