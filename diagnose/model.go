// Package diagnose explains why traffic is blocked from an exported AWS
// network configuration (package awsconfig): the path analysis of one
// request and its return traffic through security groups, network ACLs and
// route tables, with Reachability Analyzer's explanation codes, and the
// grouping of the REJECT records of VPC flow logs by cause. It is pure: no
// store, no network.
package diagnose

import (
	"net/netip"
	"slices"
	"sort"

	"github.com/flowlens/flowlens/diagnose/awsconfig"
)

// Explanation codes. The first ones are Reachability Analyzer's own
// (https://docs.aws.amazon.com/vpc/latest/reachability/explanation-codes.html);
// the last ones are FlowLens's, for what the analyzer has no name for.
const (
	CodeSGRulesMismatch  = "ENI_SG_RULES_MISMATCH"
	CodeSubnetACL        = "SUBNET_ACL_RESTRICTION"
	CodeNoRoute          = "NO_ROUTE_TO_DESTINATION"
	CodeBadStateRoute    = "BAD_STATE_ROUTE"
	CodePCXAddress       = "PCX_REQUIRES_ADDRESS_IN_VPC_CIDR"
	CodeIGWPrivateDest   = "IGW_DESTINATION_ADDRESS_NOT_IN_RFC1918_EGRESS"
	CodeUnknownResource  = "UNKNOWN_RESOURCE" // a prefix list whose entries the export lacks
	CodeAllowedByConfig  = "ALLOWED_BY_CONFIGURATION"
	CodeUnknownAddress   = "UNKNOWN_ADDRESS"
	CodeUnknownInterface = "UNKNOWN_INTERFACE"
)

// EphemeralFrom and EphemeralTo are the Linux ephemeral port range
// (net.ipv4.ip_local_port_range) assumed for a client's source port.
const (
	EphemeralFrom = 32768
	EphemeralTo   = 60999
)

// Model is a configuration compiled for lookups: addresses to interfaces,
// subnets to their network ACL (rules sorted) and route table.
type Model struct {
	cfg      *awsconfig.Config
	byAddr   map[netip.Addr]*iface
	ifaces   map[string]*iface
	subnets  map[string]*subnet
	vpcCIDRs map[string][]netip.Prefix
	vpcIDs   []string // sorted
	natByID  map[string]*awsconfig.NATGateway
}

type iface struct {
	*awsconfig.Interface
	vpc    string
	subnet *subnet
	groups []*awsconfig.SecurityGroup // the known ones
	member map[string]bool            // group ids, known or not
}

type subnet struct {
	id      string
	vpc     string
	acl     *acl
	routes  *awsconfig.RouteTable
	aclMiss bool
}

type acl struct {
	id      string
	ingress []awsconfig.ACLEntry
	egress  []awsconfig.ACLEntry
}

// Compile builds the lookup model of cfg.
func Compile(cfg *awsconfig.Config) *Model {
	m := &Model{
		cfg: cfg, byAddr: map[netip.Addr]*iface{}, ifaces: map[string]*iface{},
		subnets: map[string]*subnet{}, vpcCIDRs: map[string][]netip.Prefix{}, natByID: cfg.NATGateways,
	}
	for id, v := range cfg.VPCs {
		m.vpcCIDRs[id] = v.CIDRs
	}
	m.vpcIDs = sortedIDs(m.vpcCIDRs)
	acls := map[string]*acl{}
	aclOfSubnet := map[string]*acl{}
	defaultACL := map[string]*acl{}
	for _, id := range sortedIDs(cfg.NetworkACLs) {
		a := cfg.NetworkACLs[id]
		c := &acl{id: id}
		entries := slices.Clone(a.Entries)
		sort.SliceStable(entries, func(i, j int) bool { return entries[i].RuleNumber < entries[j].RuleNumber })
		for _, e := range entries {
			if e.Egress {
				c.egress = append(c.egress, e)
			} else {
				c.ingress = append(c.ingress, e)
			}
		}
		acls[id] = c
		for _, s := range a.Subnets {
			aclOfSubnet[s] = c
		}
		if a.IsDefault && a.VPCID != "" {
			defaultACL[a.VPCID] = c
		}
	}
	rtOfSubnet := map[string]*awsconfig.RouteTable{}
	mainRT := map[string]*awsconfig.RouteTable{}
	for _, id := range sortedIDs(cfg.RouteTables) {
		t := cfg.RouteTables[id]
		for _, s := range t.Subnets {
			rtOfSubnet[s] = t
		}
		if t.Main {
			mainRT[t.VPCID] = t
		}
	}
	subnetOf := func(id, vpc string) *subnet {
		if s, ok := m.subnets[id]; ok {
			return s
		}
		if sn, ok := cfg.Subnets[id]; ok && sn.VPCID != "" {
			vpc = sn.VPCID
		}
		s := &subnet{id: id, vpc: vpc}
		// A subnet without an explicit association uses its VPC's
		// default network ACL and main route table.
		s.acl = aclOfSubnet[id]
		if s.acl == nil {
			s.acl = defaultACL[vpc]
		}
		s.aclMiss = s.acl == nil
		s.routes = rtOfSubnet[id]
		if s.routes == nil {
			s.routes = mainRT[vpc]
		}
		m.subnets[id] = s
		return s
	}
	for _, id := range sortedIDs(cfg.Subnets) {
		subnetOf(id, cfg.Subnets[id].VPCID)
	}
	for _, id := range sortedIDs(cfg.Interfaces) {
		n := cfg.Interfaces[id]
		f := &iface{Interface: n, vpc: n.VPCID, member: map[string]bool{}}
		f.subnet = subnetOf(n.SubnetID, n.VPCID)
		if f.vpc == "" {
			f.vpc = f.subnet.vpc
		}
		for _, g := range n.Groups {
			f.member[g] = true
			if sg, ok := cfg.SecurityGroups[g]; ok {
				f.groups = append(f.groups, sg)
			}
		}
		m.ifaces[id] = f
		for _, a := range n.Addresses {
			m.byAddr[a] = f
		}
	}
	return m
}

func sortedIDs[T any](m map[string]T) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Interface returns the id of the interface that has address a, if any.
func (m *Model) Interface(a netip.Addr) (string, bool) {
	f, ok := m.byAddr[a.Unmap()]
	if !ok {
		return "", false
	}
	return f.ID, true
}

// HasInterface tells whether the export has the interface id.
func (m *Model) HasInterface(id string) bool { _, ok := m.ifaces[id]; return ok }

// Interfaces is the number of interfaces in the model.
func (m *Model) Interfaces() int { return len(m.ifaces) }

// vpcOf returns the VPC whose CIDRs contain a ("" if none).
func (m *Model) vpcOf(a netip.Addr) string {
	if f, ok := m.byAddr[a]; ok {
		return f.vpc
	}
	for _, id := range m.vpcIDs {
		for _, p := range m.vpcCIDRs[id] {
			if p.Contains(a) {
				return id
			}
		}
	}
	return ""
}
