package topology

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"unicode"

	"github.com/gaissmai/bart"
)

// validID is what an id may look like: ids end up in resource references
// ("subnet:web-a"), CLI arguments and metric dimensions.
var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$`)

// checker runs the semantic checks on a draft topology. It works on the
// Topology value, not on YAML, so that imported topologies get the same
// checks as written ones.
type checker struct {
	t *Topology
	r *report
	o *origin
	// first index of each id, per kind, for references and duplicates
	regions, zones map[string]int
}

// check reports every semantic problem of a draft topology: ids, references
// between parts, names, address ranges and host lists.
func check(t *Topology, r *report) {
	c := &checker{t: t, r: r, o: r.o}
	c.ids()
	c.references()
	c.names()
	c.ranges()
	c.hosts()
}

// ids checks that every part has a well-formed id, unique within its kind.
func (c *checker) ids() {
	t := c.t
	c.regions = c.unique("region", len(t.Regions), regionField, func(i int) string { return t.Regions[i].ID })
	c.zones = c.unique("zone", len(t.Zones), c.o.zone, func(i int) string { return t.Zones[i].ID })
	c.unique("network", len(t.Networks), networkField, func(i int) string { return t.Networks[i].ID })
	c.unique("subnet", len(t.Subnets), c.o.subnet, func(i int) string { return t.Subnets[i].ID })
	c.unique("service", len(t.Services), serviceField, func(i int) string { return t.Services[i].ID })
	c.unique("host group", len(t.HostGroups), hostGroupField, func(i int) string { return t.HostGroups[i].ID })
}

// unique checks the n ids of one kind and returns the index of each id's
// first declaration.
func (c *checker) unique(kind string, n int, field func(int) string, id func(int) string) map[string]int {
	first := make(map[string]int, n)
	for i := range n {
		f := field(i) + ".id"
		switch v := id(i); {
		case v == "":
			c.r.add(f, "missing id")
		case !validID.MatchString(v):
			c.r.add(f, "invalid id %q: use letters, digits, '.', '_' and '-', starting with a letter or digit", v)
		default:
			if j, dup := first[v]; dup {
				c.r.add(f, "duplicate %s id %q (first declared at %s)", kind, v, c.place(field(j)+".id"))
				continue
			}
			first[v] = i
		}
	}
	return first
}

// references checks that networks name a known region, subnets a known
// zone, and that the zone is in the network's region: a subnet cannot sit
// in another region than its network, and a flow's category would be wrong
// if it did.
func (c *checker) references() {
	t := c.t
	for i, n := range t.Networks {
		f := networkField(i) + ".region"
		if n.Region == "" {
			c.r.add(f, "missing region")
		} else if _, ok := c.regions[n.Region]; !ok {
			c.r.add(f, "unknown region %q%s", n.Region, known("regions", c.regions))
		}
	}
	for i, s := range t.Subnets {
		f := c.o.subnet(i) + ".zone"
		if s.Zone == "" {
			c.r.add(f, "missing zone")
			continue
		}
		zi, ok := c.zones[s.Zone]
		if !ok {
			c.r.add(f, "unknown zone %q%s", s.Zone, known("zones", c.zones))
			continue
		}
		zr := t.Zones[zi].Region
		if _, known := c.regions[s.Region]; known && zr != s.Region {
			c.r.add(f, "zone %q is in region %q, but network %q is in region %q", s.Zone, zr, s.Network, s.Region)
		}
	}
}

// names checks that display names are one line of printable text: they are
// shown in tables and must survive a round trip through YAML unchanged.
func (c *checker) names() {
	t := c.t
	name := func(f, n string) {
		if strings.IndexFunc(n, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) >= 0 {
			c.r.add(f, "name %q must be one line of printable text", n)
		}
	}
	for i, x := range t.Regions {
		name(regionField(i)+".name", x.Name)
	}
	for i, x := range t.Zones {
		name(c.o.zone(i)+".name", x.Name)
	}
	for i, x := range t.Networks {
		name(networkField(i)+".name", x.Name)
	}
	for i, x := range t.Subnets {
		name(c.o.subnet(i)+".name", x.Name)
	}
	for i, x := range t.Services {
		name(serviceField(i)+".name", x.Name)
	}
	for i, x := range t.HostGroups {
		name(hostGroupField(i)+".name", x.Name)
	}
}

// owner is who declared a range, for messages about the other side of an
// overlap.
type owner struct {
	what  string // `subnet "web-a"`
	field string // where the range is written
}

// ranges checks the address ranges: an address must have exactly one place.
// Subnets may not overlap each other; services may not overlap subnets;
// internet ranges may overlap neither. Services, and host groups, may nest
// (longest match wins) but may not list the same prefix twice.
func (c *checker) ranges() {
	var owners []owner
	subnets, services, internet, groups := &bart.Table[int]{}, &bart.Table[int]{}, &bart.Table[int]{}, &bart.Table[int]{}
	claim := func(tbl *bart.Table[int], p netip.Prefix, o owner) {
		owners = append(owners, o)
		tbl.Insert(p, len(owners)-1)
	}
	for i, s := range c.t.Subnets {
		f := c.o.subnet(i)
		c.nonEmpty(f, "subnet", len(s.CIDRs))
		for j, p := range s.CIDRs {
			cf := fmt.Sprintf("%s.cidrs[%d]", f, j)
			if p.IsValid() && !c.overlaps(subnets, owners, p, cf, "") {
				claim(subnets, p, owner{fmt.Sprintf("subnet %q", s.ID), cf})
			}
		}
	}
	for i, s := range c.t.Services {
		f := serviceField(i)
		c.nonEmpty(f, "service", len(s.CIDRs))
		for j, p := range s.CIDRs {
			cf := fmt.Sprintf("%s.cidrs[%d]", f, j)
			if p.IsValid() && !c.overlaps(subnets, owners, p, cf, "; an address is either in a subnet or in a service") &&
				!c.repeats(services, owners, p, cf) {
				claim(services, p, owner{fmt.Sprintf("service %q", s.ID), cf})
			}
		}
	}
	for j, p := range c.t.InternetCIDRs {
		cf := fmt.Sprintf("internet.cidrs[%d]", j)
		const why = "; internet ranges are for addresses outside the declared ones"
		if p.IsValid() && !c.overlaps(subnets, owners, p, cf, why) && !c.overlaps(services, owners, p, cf, why) &&
			!c.repeats(internet, owners, p, cf) {
			claim(internet, p, owner{"the internet ranges", cf})
		}
	}
	for i, g := range c.t.HostGroups {
		f := hostGroupField(i)
		for j, p := range g.CIDRs {
			cf := fmt.Sprintf("%s.cidrs[%d]", f, j)
			if p.IsValid() && !c.repeats(groups, owners, p, cf) {
				claim(groups, p, owner{fmt.Sprintf("host group %q", g.ID), cf})
			}
		}
	}
}

// nonEmpty reports a subnet or service without ranges: no address could
// ever be placed in it.
func (c *checker) nonEmpty(field, kind string, n int) {
	if n == 0 {
		c.r.add(field+".cidrs", "%s has no cidrs", kind)
	}
}

// overlaps reports p if it shares any address with a range in tbl, naming
// the other range, its owner and its line.
func (c *checker) overlaps(tbl *bart.Table[int], owners []owner, p netip.Prefix, field, why string) bool {
	if !tbl.OverlapsPrefix(p) {
		return false
	}
	q, v, ok := overlapping(tbl, p)
	if !ok {
		c.r.add(field, "%s overlaps another range%s", p, why)
		return true
	}
	o := owners[v]
	c.r.add(field, "%s overlaps %s of %s (%s)%s", p, q, o.what, c.place(o.field), why)
	return true
}

// overlapping finds one range of tbl that overlaps p: one containing it, or
// else one inside it.
func overlapping(tbl *bart.Table[int], p netip.Prefix) (netip.Prefix, int, bool) {
	for q, v := range tbl.Supernets(p) {
		return q, v, true
	}
	for q, v := range tbl.Subnets(p) {
		return q, v, true
	}
	return netip.Prefix{}, 0, false
}

// repeats reports p if tbl already holds exactly that prefix.
func (c *checker) repeats(tbl *bart.Table[int], owners []owner, p netip.Prefix, field string) bool {
	v, ok := tbl.Get(p)
	if !ok {
		return false
	}
	o := owners[v]
	c.r.add(field, "%s is already listed by %s (%s)", p, o.what, c.place(o.field))
	return true
}

// hosts checks host group membership: a host id may be in one group only,
// since a flow's local end gets one host group.
func (c *checker) hosts() {
	type member struct{ group, field string }
	first := map[string]member{} // host id -> where it was first listed
	for i, g := range c.t.HostGroups {
		f := hostGroupField(i)
		if len(g.Hosts) == 0 && len(g.CIDRs) == 0 {
			c.r.add(f, "host group %q lists no hosts and no cidrs", g.ID)
		}
		for j, h := range g.Hosts {
			hf := fmt.Sprintf("%s.hosts[%d]", f, j)
			if h == "" {
				c.r.add(hf, "empty host id")
				continue
			}
			if prev, dup := first[h]; dup {
				c.r.add(hf, "host %q is already in host group %q (%s)", h, prev.group, c.place(prev.field))
				continue
			}
			first[h] = member{g.ID, hf}
		}
	}
}

// place names where a field is: its line when known, else its path.
func (c *checker) place(field string) string {
	if p := c.o.at(field); p.line > 0 {
		return fmt.Sprintf("line %d", p.line)
	}
	return field
}

// known lists the declared ids of a kind, in declaration order, for an
// "unknown" message, so that a typo is easy to spot.
func known(kind string, ids map[string]int) string {
	if len(ids) == 0 {
		return fmt.Sprintf(" (no %s are declared)", kind)
	}
	return fmt.Sprintf(" (known %s: %s)", kind, listIDs(ids))
}

// listIDs joins ids in declaration order, at most ten of them.
func listIDs(ids map[string]int) string {
	list := make([]string, 0, len(ids))
	for id := range ids {
		list = append(list, id)
	}
	sort.Slice(list, func(i, j int) bool { return ids[list[i]] < ids[list[j]] })
	const most = 10
	if len(list) > most {
		return fmt.Sprintf("%s and %d more", strings.Join(list[:most], ", "), len(list)-most)
	}
	return strings.Join(list, ", ")
}

func regionField(i int) string    { return fmt.Sprintf("regions[%d]", i) }
func networkField(i int) string   { return fmt.Sprintf("networks[%d]", i) }
func serviceField(i int) string   { return fmt.Sprintf("services[%d]", i) }
func hostGroupField(i int) string { return fmt.Sprintf("host_groups[%d]", i) }
