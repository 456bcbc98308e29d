package topology

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"

	"gopkg.in/yaml.v3"
)

// flowListMax is the longest list printed on one line ("[a, b]"); longer
// ones (an imported service's prefixes) get one entry a line so that diffs
// stay readable.
const flowListMax = 4

// WriteYAML prints the topology in the file format that Parse reads, so that
// an imported topology can be saved, reviewed and edited. Parse(WriteYAML(t))
// gives back an equal topology.
func (t *Topology) WriteYAML(w io.Writer) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(t.node()); err != nil {
		return fmt.Errorf("write topology: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("write topology: %w", err)
	}
	return nil
}

// MarshalYAML returns what WriteYAML prints, for callers that want bytes
// (the CLI prints an imported topology with it). Despite the name it is not
// yaml.v3's Marshaler, whose MarshalYAML returns a value to encode.
func (t *Topology) MarshalYAML() ([]byte, error) {
	var b bytes.Buffer
	if err := t.WriteYAML(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// node builds the document: zones nested in their regions and subnets in
// their networks, keys in the documented order, empty fields left out.
func (t *Topology) node() *yaml.Node {
	doc := mapping()
	if len(t.Regions) > 0 {
		list := sequence(yaml.Style(0))
		for _, r := range t.Regions {
			list.Content = append(list.Content, t.regionNode(r))
		}
		doc.Content = append(doc.Content, scalar("regions"), list)
	}
	if len(t.Networks) > 0 {
		list := sequence(yaml.Style(0))
		for _, n := range t.Networks {
			list.Content = append(list.Content, t.networkNode(n))
		}
		doc.Content = append(doc.Content, scalar("networks"), list)
	}
	if len(t.Services) > 0 {
		list := sequence(yaml.Style(0))
		for _, s := range t.Services {
			m := idName(s.ID, s.Name)
			addList(m, "cidrs", prefixStrings(s.CIDRs))
			list.Content = append(list.Content, m)
		}
		doc.Content = append(doc.Content, scalar("services"), list)
	}
	if len(t.HostGroups) > 0 {
		list := sequence(yaml.Style(0))
		for _, g := range t.HostGroups {
			m := idName(g.ID, g.Name)
			addList(m, "hosts", g.Hosts)
			addList(m, "cidrs", prefixStrings(g.CIDRs))
			list.Content = append(list.Content, m)
		}
		doc.Content = append(doc.Content, scalar("host_groups"), list)
	}
	if len(t.InternetCIDRs) > 0 {
		m := mapping()
		addList(m, "cidrs", prefixStrings(t.InternetCIDRs))
		doc.Content = append(doc.Content, scalar("internet"), m)
	}
	return doc
}

func (t *Topology) regionNode(r Region) *yaml.Node {
	m := idName(r.ID, r.Name)
	zones := sequence(yaml.Style(0))
	for _, z := range t.Zones {
		if z.Region == r.ID {
			zones.Content = append(zones.Content, idName(z.ID, z.Name))
		}
	}
	if len(zones.Content) > 0 {
		m.Content = append(m.Content, scalar("zones"), zones)
	}
	return m
}

func (t *Topology) networkNode(n Network) *yaml.Node {
	m := idName(n.ID, n.Name)
	addString(m, "region", n.Region)
	subnets := sequence(yaml.Style(0))
	for _, s := range t.Subnets {
		if s.Network != n.ID {
			continue
		}
		sm := idName(s.ID, s.Name)
		addString(sm, "zone", s.Zone)
		addList(sm, "cidrs", prefixStrings(s.CIDRs))
		subnets.Content = append(subnets.Content, sm)
	}
	if len(subnets.Content) > 0 {
		m.Content = append(m.Content, scalar("subnets"), subnets)
	}
	return m
}

// idName starts an item's mapping with its id and, when set, its name.
func idName(id, name string) *yaml.Node {
	m := mapping()
	addString(m, "id", id)
	addString(m, "name", name)
	return m
}

// addString adds key: value unless value is empty.
func addString(m *yaml.Node, key, value string) {
	if value != "" {
		m.Content = append(m.Content, scalar(key), scalar(value))
	}
}

// addList adds key: [values] unless there are none; short lists on one line.
func addList(m *yaml.Node, key string, values []string) {
	if len(values) == 0 {
		return
	}
	style := yaml.FlowStyle
	if len(values) > flowListMax {
		style = 0
	}
	list := sequence(style)
	for _, v := range values {
		list.Content = append(list.Content, scalar(v))
	}
	m.Content = append(m.Content, scalar(key), list)
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

func mapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"} }

func sequence(style yaml.Style) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: style}
}

// scalar is a string node; the "!!str" tag makes the encoder quote values
// that would otherwise read back as numbers, booleans or null.
func scalar(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}
