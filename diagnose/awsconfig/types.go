// Package awsconfig loads a directory of unmodified AWS CLI JSON outputs
// (aws ec2 describe-security-groups, describe-network-acls, ...) into a
// validated, typed network configuration. A file is recognised by its
// top-level key, never by its name; every error names the file and the
// JSON path of the bad value.
package awsconfig

import "net/netip"

// Config is the merged content of every file of a directory. Maps are keyed
// by the resource id.
type Config struct {
	SecurityGroups    map[string]*SecurityGroup
	NetworkACLs       map[string]*NetworkACL
	RouteTables       map[string]*RouteTable
	Interfaces        map[string]*Interface
	Subnets           map[string]*Subnet
	VPCs              map[string]*VPC
	PrefixLists       map[string]*PrefixList
	Peerings          map[string]*Peering
	InternetGateways  map[string]*InternetGateway
	NATGateways       map[string]*NATGateway
	Files             []string // the files read, in order
	origin            map[string]loc
	prefixListEntries map[string]string // prefix-list id -> file that gave its entries
}

// Where says which file and JSON path defined a resource (for messages).
func (c *Config) Where(id string) string { return c.origin[id].String() }

// loc is where a resource was defined.
type loc struct{ file, path string }

func (l loc) String() string {
	if l.file == "" {
		return ""
	}
	return l.file + ": " + l.path
}

// SecurityGroup is one group of describe-security-groups.
type SecurityGroup struct {
	ID      string
	Name    string
	VPCID   string
	Ingress []SGRule
	Egress  []SGRule
}

// SGRule is one IpPermissions entry: a protocol and port (or ICMP
// type/code) range, and the peers it allows.
type SGRule struct {
	Protocol int // -1 all, else an IP protocol number
	// FromPort/ToPort: the port range for TCP/UDP; for ICMP/ICMPv6 the
	// type and code (-1 all). Ignored for other protocols.
	FromPort, ToPort int
	CIDRs            []netip.Prefix
	Groups           []string // referenced security-group ids
	PrefixLists      []string
	Path             string // JSON path, for messages
}

// NetworkACL is one describe-network-acls entry.
type NetworkACL struct {
	ID        string
	VPCID     string
	IsDefault bool
	Entries   []ACLEntry // as exported; the analysis sorts them by RuleNumber
	Subnets   []string   // associated subnets
}

// ACLEntry is one network ACL rule.
type ACLEntry struct {
	RuleNumber int
	Protocol   int // -1 all
	Allow      bool
	Egress     bool
	CIDR       netip.Prefix
	// PortFrom/PortTo: TCP/UDP destination ports; HasPorts false means
	// every port. ICMPType/ICMPCode -1 means all.
	HasPorts         bool
	PortFrom, PortTo int
	ICMPType         int
	ICMPCode         int
}

// RouteTable is one describe-route-tables entry.
type RouteTable struct {
	ID      string
	VPCID   string
	Main    bool
	Subnets []string // explicitly associated subnets
	Routes  []Route
}

// Route is one route. Exactly one of Dest and PrefixList is set.
type Route struct {
	Dest       netip.Prefix
	PrefixList string
	Target     string // "local", igw-..., nat-..., pcx-..., tgw-..., eni-..., ...
	Blackhole  bool
}

// Interface is one describe-network-interfaces entry.
type Interface struct {
	ID        string
	SubnetID  string
	VPCID     string
	Addresses []netip.Addr // private IPv4 and IPv6 addresses
	PublicIPs []netip.Addr
	Groups    []string
}

// Subnet is one describe-subnets entry.
type Subnet struct {
	ID    string
	VPCID string
	CIDRs []netip.Prefix
}

// VPC is one describe-vpcs entry.
type VPC struct {
	ID    string
	CIDRs []netip.Prefix
}

// PrefixList is a managed prefix list; Known is false when no entries file
// gave its entries (AWS-managed lists such as S3's).
type PrefixList struct {
	ID        string
	Name      string
	OwnerAWS  bool // owned by AWS: covers only AWS public addresses
	Family    string
	Known     bool
	Entries   []netip.Prefix
	described bool
}

// Peering is one VPC peering connection.
type Peering struct {
	ID           string
	Status       string // active, pending-acceptance, deleted, ...
	RequesterVPC string
	AccepterVPC  string
	RequesterNet []netip.Prefix
	AccepterNet  []netip.Prefix
}

// InternetGateway is one internet gateway and the VPCs it is attached to.
type InternetGateway struct {
	ID   string
	VPCs []string
}

// NATGateway is one NAT gateway.
type NATGateway struct {
	ID       string
	SubnetID string
	VPCID    string
	State    string
	Private  bool // ConnectivityType private
}
