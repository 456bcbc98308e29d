package topology

// The topology file is YAML. Every section is optional; ids are unique per
// kind (zone ids across all regions) and use letters, digits, '.', '_' and
// '-'; names are free text for display.
//
//	regions:
//	  - id: eu-west
//	    name: Europe West          # optional
//	    zones:
//	      - id: zone-a             # globally unique
//	        name: Hall A           # optional
//	networks:
//	  - id: net-prod
//	    name: Production           # optional
//	    region: eu-west            # a network lives in one region
//	    subnets:
//	      - id: web-a
//	        name: Web tier         # optional
//	        zone: zone-a           # must be a zone of the network's region
//	        cidrs: [10.1.1.0/24, 2001:db8:1:1::/64]
//	services:                      # named remote endpoints
//	  - id: objstore
//	    cidrs: [198.51.100.0/24]
//	host_groups:                   # workloads, by host id and/or address
//	  - id: frontends
//	    hosts: [sim-0, sim-1]
//	    cidrs: [10.1.1.0/25]
//	internet:                      # ranges that count as internet although
//	  cidrs: [203.0.113.0/24]      # they are private or reserved (labs)
//
// CIDRs are canonical prefixes (10.1.1.0/24, not 10.1.1.5/24); a bare address
// means a single host (/32 or /128). Subnet ranges may not overlap each other,
// service ranges may not overlap subnet ranges, and internet ranges may not
// overlap either: an address has exactly one place. Services and host groups
// may nest (the longest match wins) but not repeat a prefix. Public addresses
// outside every declared range are internet; private, loopback, link-local,
// CGNAT, ULA and documentation addresses outside them are unknown.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxNodes bounds the work of following YAML aliases: a small file with
// nested anchors could otherwise expand to billions of nodes. A topology of
// 10,000 subnets has about 70,000.
const maxNodes = 1 << 18

// Top-level and per-item keys, in the order WriteYAML prints them.
var (
	topKeys       = []string{"regions", "networks", "services", "host_groups", "internet"}
	regionKeys    = []string{"id", "name", "zones"}
	zoneKeys      = []string{"id", "name"}
	networkKeys   = []string{"id", "name", "region", "subnets"}
	subnetKeys    = []string{"id", "name", "zone", "cidrs"}
	serviceKeys   = []string{"id", "name", "cidrs"}
	hostGroupKeys = []string{"id", "name", "hosts", "cidrs"}
	internetKeys  = []string{"cidrs"}
)

// Load reads and parses a topology file.
func Load(path string) (*Topology, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load topology %s: %w", path, err)
	}
	return Parse(data, path)
}

// Check lists every problem in a topology file, or nothing when it is fine.
// It is what `flowlens topology check` prints.
func Check(path string) []Problem {
	_, err := Load(path)
	if err == nil {
		return nil
	}
	var ce *CheckError
	if errors.As(err, &ce) {
		return ce.Problems
	}
	return []Problem{{File: path, Message: err.Error()}}
}

// Parse reads a topology from YAML. filename only labels problems. Any
// problem, from a syntax error to overlapping subnets, makes it return a
// *CheckError listing all of them.
func Parse(data []byte, filename string) (*Topology, error) {
	o := &origin{file: filename, pos: map[string]pos{}}
	r := newReport(o)
	root, ok := parseYAML(data, r)
	if !ok {
		return nil, r.err()
	}
	d := &decoder{r: r, o: o, t: &Topology{}}
	d.document(root)
	if d.full() {
		return nil, r.err() // half-read; checking it would only add noise
	}
	check(d.t, r)
	if err := r.err(); err != nil {
		return nil, err
	}
	d.t.build()
	return d.t, nil
}

// yamlLine finds the line in yaml.v3's error text ("yaml: line 3: ...").
var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?`)

// parseYAML turns bytes into a node tree, reporting syntax errors with their
// line. A file holds one document; an empty file is an empty topology.
func parseYAML(data []byte, r *report) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		at, msg := syntaxError(err)
		r.addAt("", at, msg)
		return nil, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		r.addAt("", pos{line: extra.Line, col: extra.Column}, "a topology file holds one YAML document; remove the second")
		return nil, false
	} else if !errors.Is(err, io.EOF) {
		at, msg := syntaxError(err)
		r.addAt("", at, msg)
		return nil, false
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0], true
	}
	return nil, true
}

// syntaxError splits a yaml.v3 error into its line and message.
func syntaxError(err error) (pos, string) {
	msg := err.Error()
	m := yamlLine.FindStringSubmatch(msg)
	if m == nil {
		return pos{}, "invalid YAML: " + msg
	}
	line, _ := strconv.Atoi(m[1])
	return pos{line: line}, "invalid YAML: " + msg[len(m[0]):]
}

// decoder turns the YAML node tree into a draft Topology, recording where
// every field was written and reporting what cannot be read. What it cannot
// read it leaves empty (or, for CIDRs, invalid) so that the semantic checks
// still run on the rest and the user sees every problem at once.
type decoder struct {
	r     *report
	o     *origin
	t     *Topology
	nodes int
}

// document decodes the top-level mapping.
func (d *decoder) document(root *yaml.Node) {
	root = d.resolve(root)
	if root == nil || isNull(root) {
		return
	}
	f := d.fields(root, "", topKeys)
	for i, n := range d.seq(f["regions"], "regions") {
		d.region(n, fmt.Sprintf("regions[%d]", i))
	}
	for i, n := range d.seq(f["networks"], "networks") {
		d.network(n, fmt.Sprintf("networks[%d]", i))
	}
	for i, n := range d.seq(f["services"], "services") {
		d.service(n, fmt.Sprintf("services[%d]", i))
	}
	for i, n := range d.seq(f["host_groups"], "host_groups") {
		d.hostGroup(n, fmt.Sprintf("host_groups[%d]", i))
	}
	if n := f["internet"]; n != nil && !isNull(n) {
		g := d.fields(n, "internet", internetKeys)
		d.t.InternetCIDRs = d.cidrs(g["cidrs"], "internet.cidrs")
	}
}

func (d *decoder) region(n *yaml.Node, path string) {
	f := d.fields(n, path, regionKeys)
	r := Region{ID: d.str(f["id"], path+".id"), Name: d.str(f["name"], path+".name")}
	d.t.Regions = append(d.t.Regions, r)
	for j, zn := range d.seq(f["zones"], path+".zones") {
		zpath := fmt.Sprintf("%s.zones[%d]", path, j)
		g := d.fields(zn, zpath, zoneKeys)
		d.t.Zones = append(d.t.Zones, Zone{ID: d.str(g["id"], zpath+".id"),
			Name: d.str(g["name"], zpath+".name"), Region: r.ID})
		d.o.zones = append(d.o.zones, zpath)
	}
}

func (d *decoder) network(n *yaml.Node, path string) {
	f := d.fields(n, path, networkKeys)
	nw := Network{ID: d.str(f["id"], path+".id"), Name: d.str(f["name"], path+".name"),
		Region: d.str(f["region"], path+".region")}
	d.t.Networks = append(d.t.Networks, nw)
	for j, sn := range d.seq(f["subnets"], path+".subnets") {
		spath := fmt.Sprintf("%s.subnets[%d]", path, j)
		g := d.fields(sn, spath, subnetKeys)
		d.t.Subnets = append(d.t.Subnets, Subnet{ID: d.str(g["id"], spath+".id"),
			Name: d.str(g["name"], spath+".name"), Network: nw.ID, Zone: d.str(g["zone"], spath+".zone"),
			Region: nw.Region, CIDRs: d.cidrs(g["cidrs"], spath+".cidrs")})
		d.o.subnets = append(d.o.subnets, spath)
	}
}

func (d *decoder) service(n *yaml.Node, path string) {
	f := d.fields(n, path, serviceKeys)
	d.t.Services = append(d.t.Services, Service{ID: d.str(f["id"], path+".id"),
		Name: d.str(f["name"], path+".name"), CIDRs: d.cidrs(f["cidrs"], path+".cidrs")})
}

func (d *decoder) hostGroup(n *yaml.Node, path string) {
	f := d.fields(n, path, hostGroupKeys)
	g := HostGroup{ID: d.str(f["id"], path+".id"), Name: d.str(f["name"], path+".name"),
		CIDRs: d.cidrs(f["cidrs"], path+".cidrs")}
	for j, hn := range d.seq(f["hosts"], path+".hosts") {
		g.Hosts = append(g.Hosts, d.str(hn, fmt.Sprintf("%s.hosts[%d]", path, j)))
	}
	d.t.HostGroups = append(d.t.HostGroups, g)
}

// resolve follows an alias and counts the node against maxNodes. It returns
// nil once the budget is spent (and says so once).
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for depth := 0; n != nil && n.Kind == yaml.AliasNode; depth++ {
		if depth > 100 {
			return nil
		}
		n = n.Alias
	}
	d.nodes++
	if d.nodes == maxNodes {
		d.r.addAt("", pos{}, fmt.Sprintf("document too large: more than %d nodes after expanding aliases", maxNodes))
	}
	if d.nodes >= maxNodes {
		return nil
	}
	return n
}

// full reports that the node budget is spent: the rest of the document is
// skipped, and its (unread, so empty) values must not be reported.
func (d *decoder) full() bool { return d.nodes >= maxNodes }

// problem reports a problem unless the document was cut short.
func (d *decoder) problem(field, format string, args ...any) {
	if !d.full() {
		d.r.add(field, format, args...)
	}
}

// mark records where the node at path was written.
func (d *decoder) mark(path string, n *yaml.Node) {
	if _, ok := d.o.pos[path]; !ok {
		d.o.pos[path] = pos{line: n.Line, col: n.Column}
	}
}

// fields checks that n is a mapping whose keys are all known, and returns
// each key's value node. Unknown and repeated keys are problems: a typo such
// as "cidr:" would otherwise silently drop the ranges.
func (d *decoder) fields(n *yaml.Node, path string, known []string) map[string]*yaml.Node {
	if n = d.resolve(n); n == nil {
		return nil
	}
	d.mark(path, n)
	if n.Kind != yaml.MappingNode {
		d.problem(path, "want a mapping with keys %s, got %s", strings.Join(known, ", "), describe(n))
		return nil
	}
	out := make(map[string]*yaml.Node, len(known))
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := joinField(path, k.Value)
		if _, dup := out[k.Value]; dup {
			d.r.addAt(field, pos{line: k.Line, col: k.Column},
				fmt.Sprintf("%q given twice (first on line %d)", k.Value, d.o.at(field).line))
			continue
		}
		if k.Kind != yaml.ScalarNode || !slices.Contains(known, k.Value) {
			d.o.pos[field] = pos{line: k.Line, col: k.Column}
			msg, meant := unknownField(k.Value, known)
			d.problem(field, "%s", msg)
			if meant != "" {
				// The typo stands for the field it was meant to be: do not
				// also report that field as missing.
				d.r.seen[joinField(path, meant)] = true
			}
			continue
		}
		d.o.pos[field] = pos{line: k.Line, col: k.Column}
		out[k.Value] = v
	}
	return out
}

// seq reads a list; an absent or null value is an empty list.
func (d *decoder) seq(n *yaml.Node, path string) []*yaml.Node {
	if n == nil {
		return nil
	}
	if n = d.resolve(n); n == nil || isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.problem(path, "want a list, got %s", describe(n))
		return nil
	}
	for i, item := range n.Content {
		d.mark(fmt.Sprintf("%s[%d]", path, i), item)
	}
	return n.Content
}

// str reads a scalar as text; an absent or null value is "".
func (d *decoder) str(n *yaml.Node, path string) string {
	if n == nil {
		return ""
	}
	if n = d.resolve(n); n == nil || isNull(n) {
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		d.problem(path, "want a string, got %s", describe(n))
		return ""
	}
	return n.Value
}

// cidrs reads a list of prefixes. A bad entry is reported and kept as an
// invalid prefix so that the positions of the others stay right.
func (d *decoder) cidrs(n *yaml.Node, path string) []netip.Prefix {
	items := d.seq(n, path)
	if len(items) == 0 {
		return nil
	}
	out := make([]netip.Prefix, 0, len(items))
	for i, item := range items {
		if d.full() {
			break
		}
		field := fmt.Sprintf("%s[%d]", path, i)
		s := d.str(item, field)
		p, err := parseCIDR(s)
		if err != nil {
			d.problem(field, "%v", err)
		}
		out = append(out, p)
	}
	return out
}

// parseCIDR parses one range, insisting on the canonical form: a prefix with
// host bits set is almost always a typo for a different network, and saying
// which network it would be lets the user decide.
func parseCIDR(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Prefix{}, errors.New("empty CIDR")
	}
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q: %s", s, lastPart(err))
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q: want an address/length such as 10.1.0.0/16", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("invalid CIDR %q: IPv4-mapped IPv6 ranges never match (addresses are unmapped); write the IPv4 range", s)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("invalid CIDR %q: host bits set; the network is %s", s, m)
	}
	return p, nil
}

// lastPart trims netip's "netip.ParsePrefix(...): " preamble.
func lastPart(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "): "); i >= 0 {
		return msg[i+3:]
	}
	return msg
}

// isNull reports an explicit null ("~", "null" or nothing after the colon).
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names a node's kind for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

// joinField appends a key to a field path.
func joinField(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// unknownField explains an unknown key, offering the known key closest to
// it when one is close enough to be a typo (and returning that key).
func unknownField(key string, known []string) (string, string) {
	best, bestDist := "", 3
	for _, k := range known {
		if d := editDistance(key, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown field %q; did you mean %q?", key, best), best
	}
	return fmt.Sprintf("unknown field %q (want %s)", key, strings.Join(known, ", ")), ""
}

// editDistance is the Levenshtein distance, for short keys only.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
