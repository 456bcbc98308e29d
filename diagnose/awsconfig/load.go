package awsconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Limits bound what Load reads: an export is operator input, but a
// directory pointed at by mistake (or a hostile upload) must not exhaust
// memory.
type Limits struct {
	MaxFileBytes int64 // per file; default 256 MiB
	MaxFiles     int   // files in the directory; default 10,000
}

// DefaultLimits are the limits when a field is zero.
var DefaultLimits = Limits{MaxFileBytes: 256 << 20, MaxFiles: 10000}

func (l Limits) withDefaults() Limits {
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = DefaultLimits.MaxFileBytes
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultLimits.MaxFiles
	}
	return l
}

var (
	// ErrInvalid marks malformed or contradictory input; *Error carries it.
	ErrInvalid = errors.New("invalid AWS configuration")
	// ErrLimit marks input refused by a Limits bound.
	ErrLimit = errors.New("AWS configuration over a limit")
)

// Error is a bad value: the file, the JSON path ($.SecurityGroups[2]...)
// and what is wrong with it.
type Error struct {
	File string
	Path string
	Msg  string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.File, e.Path, e.Msg)
}

func (e *Error) Unwrap() error { return ErrInvalid }

// Load reads every regular, non-hidden file of dir. Each must be a JSON
// document with at least one known top-level key.
func Load(dir string, lim Limits) (*Config, error) {
	lim = lim.withDefaults()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read AWS configuration: %w", err)
	}
	var paths []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
			continue
		}
		paths = append(paths, filepath.Join(dir, e.Name()))
	}
	if len(paths) > lim.MaxFiles {
		return nil, fmt.Errorf("%s: %d files, more than the limit of %d: %w", dir, len(paths), lim.MaxFiles, ErrLimit)
	}
	if len(paths) == 0 {
		return nil, &Error{File: dir, Msg: "no files: want the JSON outputs of aws ec2 describe-* commands"}
	}
	return LoadFiles(paths, lim)
}

// LoadFiles reads the given files (see Load).
func LoadFiles(paths []string, lim Limits) (*Config, error) {
	lim = lim.withDefaults()
	b := NewBuilder()
	for _, p := range paths {
		data, err := readCapped(p, lim.MaxFileBytes)
		if err != nil {
			return nil, err
		}
		if err := b.Add(p, data); err != nil {
			return nil, err
		}
	}
	return b.Finish()
}

func readCapped(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read AWS configuration: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read AWS configuration %s: %w", path, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s: larger than the limit of %d bytes: %w", path, max, ErrLimit)
	}
	return data, nil
}

// Builder merges files one at a time; Finish checks the whole.
type Builder struct {
	c    *Config
	file string
}

// NewBuilder returns an empty builder.
func NewBuilder() *Builder {
	return &Builder{c: &Config{
		SecurityGroups:    map[string]*SecurityGroup{},
		NetworkACLs:       map[string]*NetworkACL{},
		RouteTables:       map[string]*RouteTable{},
		Interfaces:        map[string]*Interface{},
		Subnets:           map[string]*Subnet{},
		VPCs:              map[string]*VPC{},
		PrefixLists:       map[string]*PrefixList{},
		Peerings:          map[string]*Peering{},
		InternetGateways:  map[string]*InternetGateway{},
		NATGateways:       map[string]*NATGateway{},
		origin:            map[string]loc{},
		prefixListEntries: map[string]string{},
	}}
}

func (b *Builder) errf(path, format string, args ...any) error {
	return &Error{File: b.file, Path: path, Msg: fmt.Sprintf(format, args...)}
}

// Add parses one file's content; name is used in messages.
func (b *Builder) Add(name string, data []byte) error {
	b.file = name
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return b.jsonError(data, err, "")
	}
	known := 0
	for _, k := range topKeys {
		raw, ok := top[k]
		if !ok {
			continue
		}
		known++
		var err error
		switch k {
		case "SecurityGroups":
			err = b.addSecurityGroups(raw)
		case "NetworkAcls":
			err = b.addNetworkACLs(raw)
		case "RouteTables":
			err = b.addRouteTables(raw)
		case "NetworkInterfaces":
			err = b.addInterfaces(raw)
		case "Subnets":
			err = b.addSubnets(raw)
		case "Vpcs":
			err = b.addVPCs(raw)
		case "PrefixLists":
			err = b.addPrefixLists(raw)
		case "Entries":
			err = b.addPrefixListEntries(data)
		case "VpcPeeringConnections":
			err = b.addPeerings(raw)
		case "InternetGateways":
			err = b.addInternetGateways(raw)
		case "NatGateways":
			err = b.addNATGateways(raw)
		}
		if err != nil {
			return err
		}
	}
	if known == 0 {
		keys := make([]string, 0, len(top))
		for k := range top {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return b.errf("$", "no known top-level key (have %s; want one of %s)",
			strings.Join(keys, ", "), strings.Join(topKeys, ", "))
	}
	b.c.Files = append(b.c.Files, name)
	return nil
}

// decode unmarshals raw into v, turning encoding/json's errors into
// messages with the JSON path under key.
func (b *Builder) decode(raw []byte, v any, key string) error {
	wrapped := append(append([]byte(`{"`+key+`":`), raw...), '}')
	if err := json.Unmarshal(wrapped, v); err != nil {
		return b.jsonError(wrapped, err, key)
	}
	return nil
}

func (b *Builder) jsonError(data []byte, err error, key string) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line := 1 + bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))
		return b.errf("", "line %d: %v", line, se)
	case errors.As(err, &te):
		path := pathAt(data, te.Offset)
		if path == "" { // the walk failed: the field names without indexes
			path = "$"
			if te.Field != "" {
				path += "." + te.Field
			}
		}
		return b.errf(path, "%s where %s is wanted", te.Value, te.Type)
	}
	if key == "" {
		return b.errf("$", "%v", err)
	}
	return b.errf("$."+key, "%v", err)
}

// remember records where id was defined; a second, different definition is
// a contradiction, an identical one (the same output saved twice) is fine.
func remember[T any](b *Builder, m map[string]*T, id string, v *T, path string) error {
	if old, ok := m[id]; ok {
		if reflect.DeepEqual(old, v) {
			return nil
		}
		return b.errf(path, "%s is defined twice, differently (first at %s)", id, b.c.origin[id].String())
	}
	m[id] = v
	b.c.origin[id] = loc{b.file, path}
	return nil
}

func (b *Builder) prefix(path, s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, b.errf(path, "%q is not a CIDR block", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, b.errf(path, "%q has host bits set (want %s)", s, p.Masked())
	}
	return p, nil
}

func (b *Builder) addr(path, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, b.errf(path, "%q is not an IP address", s)
	}
	return a, nil
}

func (b *Builder) id(path string, s *string, prefix string) (string, error) {
	if s == nil || *s == "" {
		return "", b.errf(path, "missing")
	}
	if !strings.HasPrefix(*s, prefix) {
		return "", b.errf(path, "%q is not a %s... id", *s, prefix)
	}
	return *s, nil
}

// Protocol names the AWS CLI uses in security-group rules.
var protoNames = map[string]int{"-1": -1, "all": -1, "tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58}

func (b *Builder) protocol(path string, s *string) (int, error) {
	if s == nil {
		return 0, b.errf(path, "missing")
	}
	if n, ok := protoNames[strings.ToLower(*s)]; ok {
		return n, nil
	}
	n, err := strconv.Atoi(*s)
	if err != nil || n < -1 || n > 255 {
		return 0, b.errf(path, "%q is not a protocol (want tcp, udp, icmp, icmpv6, -1 or 0-255)", *s)
	}
	return n, nil
}

// hasPorts: the protocols whose rules carry port (or ICMP type/code) ranges.
func hasPorts(p int) bool { return p == 6 || p == 17 || p == 1 || p == 58 }

func (b *Builder) addSecurityGroups(raw []byte) error {
	var r rawSecurityGroups
	if err := b.decode(raw, &r, "SecurityGroups"); err != nil {
		return err
	}
	for i, g := range r.SecurityGroups {
		path := fmt.Sprintf("$.SecurityGroups[%d]", i)
		id, err := b.id(path+".GroupId", g.GroupId, "sg-")
		if err != nil {
			return err
		}
		sg := &SecurityGroup{ID: id, Name: g.GroupName, VPCID: g.VpcId}
		if sg.Ingress, err = b.permissions(path+".IpPermissions", g.IpPermissions); err != nil {
			return err
		}
		if sg.Egress, err = b.permissions(path+".IpPermissionsEgress", g.IpPermissionsEgress); err != nil {
			return err
		}
		if err := remember(b, b.c.SecurityGroups, id, sg, path); err != nil {
			return err
		}
	}
	return nil
}

func (b *Builder) permissions(path string, perms []rawPermission) ([]SGRule, error) {
	out := make([]SGRule, 0, len(perms))
	for i, p := range perms {
		pp := fmt.Sprintf("%s[%d]", path, i)
		proto, err := b.protocol(pp+".IpProtocol", p.IpProtocol)
		if err != nil {
			return nil, err
		}
		r := SGRule{Protocol: proto, FromPort: -1, ToPort: -1, Path: pp}
		if hasPorts(proto) {
			if err := b.sgPorts(pp, proto, p.FromPort, p.ToPort, &r); err != nil {
				return nil, err
			}
		}
		for j, x := range p.IpRanges {
			xp := fmt.Sprintf("%s.IpRanges[%d].CidrIp", pp, j)
			if x.CidrIp == nil {
				return nil, b.errf(xp, "missing")
			}
			c, err := b.prefix(xp, *x.CidrIp)
			if err != nil {
				return nil, err
			}
			if !c.Addr().Is4() {
				return nil, b.errf(xp, "%q is not an IPv4 CIDR block", *x.CidrIp)
			}
			r.CIDRs = append(r.CIDRs, c)
		}
		for j, x := range p.Ipv6Ranges {
			xp := fmt.Sprintf("%s.Ipv6Ranges[%d].CidrIpv6", pp, j)
			if x.CidrIpv6 == nil {
				return nil, b.errf(xp, "missing")
			}
			c, err := b.prefix(xp, *x.CidrIpv6)
			if err != nil {
				return nil, err
			}
			if !c.Addr().Is6() {
				return nil, b.errf(xp, "%q is not an IPv6 CIDR block", *x.CidrIpv6)
			}
			r.CIDRs = append(r.CIDRs, c)
		}
		for j, x := range p.PrefixListIds {
			id, err := b.id(fmt.Sprintf("%s.PrefixListIds[%d].PrefixListId", pp, j), x.PrefixListId, "pl-")
			if err != nil {
				return nil, err
			}
			r.PrefixLists = append(r.PrefixLists, id)
		}
		for j, x := range p.UserIdGroupPairs {
			id, err := b.id(fmt.Sprintf("%s.UserIdGroupPairs[%d].GroupId", pp, j), x.GroupId, "sg-")
			if err != nil {
				return nil, err
			}
			r.Groups = append(r.Groups, id)
		}
		out = append(out, r)
	}
	return out, nil
}

func (b *Builder) sgPorts(pp string, proto int, from, to *int, r *SGRule) error {
	if from == nil || to == nil {
		if proto == 6 || proto == 17 {
			return b.errf(pp+".FromPort", "a tcp or udp rule needs FromPort and ToPort")
		}
		return nil // ICMP without type/code: all
	}
	r.FromPort, r.ToPort = *from, *to
	if proto == 6 || proto == 17 {
		if r.FromPort < 0 || r.ToPort > 65535 || r.FromPort > r.ToPort {
			return b.errf(pp+".FromPort", "port range %d-%d is not within 0-65535", r.FromPort, r.ToPort)
		}
		return nil
	}
	if r.FromPort < -1 || r.FromPort > 255 || r.ToPort < -1 || r.ToPort > 255 {
		return b.errf(pp+".FromPort", "ICMP type %d / code %d: want -1 or 0-255", r.FromPort, r.ToPort)
	}
	return nil
}

func (b *Builder) addNetworkACLs(raw []byte) error {
	var r rawNetworkACLs
	if err := b.decode(raw, &r, "NetworkAcls"); err != nil {
		return err
	}
	for i, a := range r.NetworkAcls {
		path := fmt.Sprintf("$.NetworkAcls[%d]", i)
		id, err := b.id(path+".NetworkAclId", a.NetworkAclId, "acl-")
		if err != nil {
			return err
		}
		acl := &NetworkACL{ID: id, VPCID: a.VpcId, IsDefault: a.IsDefault}
		seen := map[[2]int]bool{}
		for j, e := range a.Entries {
			ep := fmt.Sprintf("%s.Entries[%d]", path, j)
			ent, err := b.aclEntry(ep, e.RuleNumber, e.Protocol, e.RuleAction, e.Egress, e.CidrBlock, e.Ipv6CidrBlock, e.PortRange, e.IcmpTypeCode)
			if err != nil {
				return err
			}
			// IPv4 and IPv6 entries have separate default rules (32767
			// and 32768) but share the rule-number space otherwise.
			fam := 4
			if ent.CIDR.Addr().Is6() {
				fam = 6
			}
			k := [2]int{ent.RuleNumber*2 + btoi(ent.Egress), fam}
			if seen[k] && ent.RuleNumber < 32767 {
				return b.errf(ep+".RuleNumber", "rule %d appears twice in the same direction", ent.RuleNumber)
			}
			seen[k] = true
			acl.Entries = append(acl.Entries, ent)
		}
		for j, as := range a.Associations {
			sid, err := b.id(fmt.Sprintf("%s.Associations[%d].SubnetId", path, j), as.SubnetId, "subnet-")
			if err != nil {
				return err
			}
			acl.Subnets = append(acl.Subnets, sid)
		}
		if err := remember(b, b.c.NetworkACLs, id, acl, path); err != nil {
			return err
		}
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (b *Builder) aclEntry(ep string, num *int, proto, action *string, egress *bool, cidr, cidr6 *string,
	ports *struct{ From, To *int }, icmp *struct{ Code, Type *int }) (ACLEntry, error) {
	var e ACLEntry
	if num == nil {
		return e, b.errf(ep+".RuleNumber", "missing")
	}
	if *num < 1 || *num > 32768 {
		return e, b.errf(ep+".RuleNumber", "%d is not within 1-32768", *num)
	}
	e.RuleNumber = *num
	p, err := b.protocol(ep+".Protocol", proto)
	if err != nil {
		return e, err
	}
	e.Protocol = p
	if action == nil || (*action != "allow" && *action != "deny") {
		return e, b.errf(ep+".RuleAction", "want allow or deny")
	}
	e.Allow = *action == "allow"
	if egress == nil {
		return e, b.errf(ep+".Egress", "missing")
	}
	e.Egress = *egress
	switch {
	case cidr != nil && cidr6 != nil:
		return e, b.errf(ep, "both CidrBlock and Ipv6CidrBlock")
	case cidr != nil:
		if e.CIDR, err = b.prefix(ep+".CidrBlock", *cidr); err != nil {
			return e, err
		}
		if !e.CIDR.Addr().Is4() {
			return e, b.errf(ep+".CidrBlock", "%q is not an IPv4 CIDR block", *cidr)
		}
	case cidr6 != nil:
		if e.CIDR, err = b.prefix(ep+".Ipv6CidrBlock", *cidr6); err != nil {
			return e, err
		}
		if !e.CIDR.Addr().Is6() {
			return e, b.errf(ep+".Ipv6CidrBlock", "%q is not an IPv6 CIDR block", *cidr6)
		}
	default:
		return e, b.errf(ep, "neither CidrBlock nor Ipv6CidrBlock")
	}
	e.ICMPType, e.ICMPCode = -1, -1
	if (p == 6 || p == 17) && ports != nil {
		if ports.From == nil || ports.To == nil {
			return e, b.errf(ep+".PortRange", "want From and To")
		}
		if *ports.From < 0 || *ports.To > 65535 || *ports.From > *ports.To {
			return e, b.errf(ep+".PortRange", "%d-%d is not within 0-65535", *ports.From, *ports.To)
		}
		e.HasPorts, e.PortFrom, e.PortTo = true, *ports.From, *ports.To
	}
	if (p == 1 || p == 58) && icmp != nil {
		if icmp.Type != nil {
			e.ICMPType = *icmp.Type
		}
		if icmp.Code != nil {
			e.ICMPCode = *icmp.Code
		}
		if e.ICMPType < -1 || e.ICMPType > 255 || e.ICMPCode < -1 || e.ICMPCode > 255 {
			return e, b.errf(ep+".IcmpTypeCode", "type %d / code %d: want -1 or 0-255", e.ICMPType, e.ICMPCode)
		}
	}
	return e, nil
}

func (b *Builder) addRouteTables(raw []byte) error {
	var r rawRouteTables
	if err := b.decode(raw, &r, "RouteTables"); err != nil {
		return err
	}
	for i, t := range r.RouteTables {
		path := fmt.Sprintf("$.RouteTables[%d]", i)
		id, err := b.id(path+".RouteTableId", t.RouteTableId, "rtb-")
		if err != nil {
			return err
		}
		rt := &RouteTable{ID: id, VPCID: t.VpcId}
		for _, a := range t.Associations {
			if a.AssociationState != nil && a.AssociationState.State != "" && a.AssociationState.State != "associated" {
				continue // disassociated or failed: not in effect
			}
			if a.Main {
				rt.Main = true
			}
			if a.SubnetId != "" {
				rt.Subnets = append(rt.Subnets, a.SubnetId)
			}
		}
		for j, ro := range t.Routes {
			rp := fmt.Sprintf("%s.Routes[%d]", path, j)
			var route Route
			switch {
			case ro.DestinationCidrBlock != nil:
				if route.Dest, err = b.prefix(rp+".DestinationCidrBlock", *ro.DestinationCidrBlock); err != nil {
					return err
				}
			case ro.DestinationIpv6CidrBlock != nil:
				if route.Dest, err = b.prefix(rp+".DestinationIpv6CidrBlock", *ro.DestinationIpv6CidrBlock); err != nil {
					return err
				}
			case ro.DestinationPrefixListId != nil:
				route.PrefixList = *ro.DestinationPrefixListId
			default:
				return b.errf(rp, "no DestinationCidrBlock, DestinationIpv6CidrBlock or DestinationPrefixListId")
			}
			for _, t := range []string{ro.GatewayId, ro.NatGatewayId, ro.VpcPeeringConnectionId, ro.TransitGatewayId,
				ro.NetworkInterfaceId, ro.InstanceId, ro.EgressOnlyInternetGatewayId, ro.LocalGatewayId,
				ro.CarrierGatewayId, ro.CoreNetworkArn} {
				if t != "" && route.Target == "" {
					route.Target = t
				}
			}
			switch ro.State {
			case "", "active":
			case "blackhole":
				route.Blackhole = true
			default:
				return b.errf(rp+".State", "%q: want active or blackhole", ro.State)
			}
			if route.Target == "" && !route.Blackhole {
				return b.errf(rp, "an active route without a target")
			}
			rt.Routes = append(rt.Routes, route)
		}
		if err := remember(b, b.c.RouteTables, id, rt, path); err != nil {
			return err
		}
	}
	return nil
}

func (b *Builder) addInterfaces(raw []byte) error {
	var r rawInterfaces
	if err := b.decode(raw, &r, "NetworkInterfaces"); err != nil {
		return err
	}
	for i, n := range r.NetworkInterfaces {
		path := fmt.Sprintf("$.NetworkInterfaces[%d]", i)
		id, err := b.id(path+".NetworkInterfaceId", n.NetworkInterfaceId, "eni-")
		if err != nil {
			return err
		}
		eni := &Interface{ID: id, SubnetID: n.SubnetId, VPCID: n.VpcId}
		seen := map[netip.Addr]bool{}
		add := func(p, s string, public bool) error {
			if s == "" {
				return nil
			}
			a, err := b.addr(p, s)
			if err != nil {
				return err
			}
			if seen[a] {
				return nil
			}
			seen[a] = true
			if public {
				eni.PublicIPs = append(eni.PublicIPs, a)
			} else {
				eni.Addresses = append(eni.Addresses, a)
			}
			return nil
		}
		if err := add(path+".PrivateIpAddress", n.PrivateIpAddress, false); err != nil {
			return err
		}
		if n.Association != nil {
			if err := add(path+".Association.PublicIp", n.Association.PublicIp, true); err != nil {
				return err
			}
		}
		for j, p := range n.PrivateIpAddresses {
			pp := fmt.Sprintf("%s.PrivateIpAddresses[%d]", path, j)
			if err := add(pp+".PrivateIpAddress", p.PrivateIpAddress, false); err != nil {
				return err
			}
			if p.Association != nil {
				if err := add(pp+".Association.PublicIp", p.Association.PublicIp, true); err != nil {
					return err
				}
			}
		}
		for j, p := range n.Ipv6Addresses {
			if err := add(fmt.Sprintf("%s.Ipv6Addresses[%d].Ipv6Address", path, j), p.Ipv6Address, false); err != nil {
				return err
			}
		}
		for j, g := range n.Groups {
			gid := g.GroupId
			if _, err := b.id(fmt.Sprintf("%s.Groups[%d].GroupId", path, j), &gid, "sg-"); err != nil {
				return err
			}
			eni.Groups = append(eni.Groups, gid)
		}
		if err := remember(b, b.c.Interfaces, id, eni, path); err != nil {
			return err
		}
	}
	return nil
}

func (b *Builder) addSubnets(raw []byte) error {
	var r rawSubnets
	if err := b.decode(raw, &r, "Subnets"); err != nil {
		return err
	}
	for i, s := range r.Subnets {
		path := fmt.Sprintf("$.Subnets[%d]", i)
		id, err := b.id(path+".SubnetId", s.SubnetId, "subnet-")
		if err != nil {
			return err
		}
		sn := &Subnet{ID: id, VPCID: s.VpcId}
		if s.CidrBlock != "" {
			p, err := b.prefix(path+".CidrBlock", s.CidrBlock)
			if err != nil {
				return err
			}
			sn.CIDRs = append(sn.CIDRs, p)
		}
		for j, a := range s.Ipv6CidrBlockAssociationSet {
			if a.Ipv6CidrBlockState != nil && a.Ipv6CidrBlockState.State != "" && a.Ipv6CidrBlockState.State != "associated" {
				continue
			}
			p, err := b.prefix(fmt.Sprintf("%s.Ipv6CidrBlockAssociationSet[%d].Ipv6CidrBlock", path, j), a.Ipv6CidrBlock)
			if err != nil {
				return err
			}
			sn.CIDRs = append(sn.CIDRs, p)
		}
		if err := remember(b, b.c.Subnets, id, sn, path); err != nil {
			return err
		}
	}
	return nil
}

func (b *Builder) addVPCs(raw []byte) error {
	var r rawVPCs
	if err := b.decode(raw, &r, "Vpcs"); err != nil {
		return err
	}
	for i, v := range r.Vpcs {
		path := fmt.Sprintf("$.Vpcs[%d]", i)
		id, err := b.id(path+".VpcId", v.VpcId, "vpc-")
		if err != nil {
			return err
		}
		vpc := &VPC{ID: id}
		seen := map[netip.Prefix]bool{}
		add := func(p, s string) error {
			c, err := b.prefix(p, s)
			if err != nil {
				return err
			}
			if !seen[c] {
				seen[c] = true
				vpc.CIDRs = append(vpc.CIDRs, c)
			}
			return nil
		}
		if v.CidrBlock != "" {
			if err := add(path+".CidrBlock", v.CidrBlock); err != nil {
				return err
			}
		}
		for j, a := range v.CidrBlockAssociationSet {
			if a.CidrBlockState != nil && a.CidrBlockState.State != "" && a.CidrBlockState.State != "associated" {
				continue
			}
			if err := add(fmt.Sprintf("%s.CidrBlockAssociationSet[%d].CidrBlock", path, j), a.CidrBlock); err != nil {
				return err
			}
		}
		for j, a := range v.Ipv6CidrBlockAssociationSet {
			if a.Ipv6CidrBlockState != nil && a.Ipv6CidrBlockState.State != "" && a.Ipv6CidrBlockState.State != "associated" {
				continue
			}
			if err := add(fmt.Sprintf("%s.Ipv6CidrBlockAssociationSet[%d].Ipv6CidrBlock", path, j), a.Ipv6CidrBlock); err != nil {
				return err
			}
		}
		if err := remember(b, b.c.VPCs, id, vpc, path); err != nil {
			return err
		}
	}
	return nil
}

func (b *Builder) addPrefixLists(raw []byte) error {
	var r rawPrefixLists
	if err := b.decode(raw, &r, "PrefixLists"); err != nil {
		return err
	}
	for i, p := range r.PrefixLists {
		path := fmt.Sprintf("$.PrefixLists[%d]", i)
		id, err := b.id(path+".PrefixListId", p.PrefixListId, "pl-")
		if err != nil {
			return err
		}
		pl := b.prefixList(id)
		if pl.described {
			return b.errf(path, "%s is described twice (first at %s)", id, b.c.origin[id].String())
		}
		pl.described = true
		pl.Name, pl.Family, pl.OwnerAWS = p.PrefixListName, p.AddressFamily, p.OwnerId == "AWS"
		b.c.origin[id] = loc{b.file, path}
	}
	return nil
}

func (b *Builder) prefixList(id string) *PrefixList {
	pl := b.c.PrefixLists[id]
	if pl == nil {
		pl = &PrefixList{ID: id}
		b.c.PrefixLists[id] = pl
	}
	return pl
}

// addPrefixListEntries reads {"PrefixListId": "pl-...", "Entries": [...]}:
// the output of get-managed-prefix-list-entries with the list's id added.
func (b *Builder) addPrefixListEntries(data []byte) error {
	var r rawPrefixListEntries
	if err := json.Unmarshal(data, &r); err != nil {
		return b.jsonError(data, err, "")
	}
	id, err := b.id("$.PrefixListId", r.PrefixListId, "pl-")
	if err != nil {
		return err
	}
	if prev, ok := b.c.prefixListEntries[id]; ok {
		return b.errf("$.PrefixListId", "the entries of %s are given twice (also in %s)", id, prev)
	}
	b.c.prefixListEntries[id] = b.file
	pl := b.prefixList(id)
	pl.Known = true
	for j, e := range r.Entries {
		ep := fmt.Sprintf("$.Entries[%d].Cidr", j)
		if e.Cidr == nil {
			return b.errf(ep, "missing")
		}
		p, err := b.prefix(ep, *e.Cidr)
		if err != nil {
			return err
		}
		pl.Entries = append(pl.Entries, p)
	}
	return nil
}

func (b *Builder) vpcInfo(path string, v *rawVPCInfo) (string, []netip.Prefix, error) {
	if v == nil {
		return "", nil, b.errf(path, "missing")
	}
	var out []netip.Prefix
	seen := map[netip.Prefix]bool{}
	add := func(p, s string) error {
		if s == "" {
			return nil
		}
		c, err := b.prefix(p, s)
		if err != nil {
			return err
		}
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
		return nil
	}
	if err := add(path+".CidrBlock", v.CidrBlock); err != nil {
		return "", nil, err
	}
	for j, c := range v.CidrBlockSet {
		if err := add(fmt.Sprintf("%s.CidrBlockSet[%d].CidrBlock", path, j), c.CidrBlock); err != nil {
			return "", nil, err
		}
	}
	for j, c := range v.Ipv6CidrBlockSet {
		if err := add(fmt.Sprintf("%s.Ipv6CidrBlockSet[%d].Ipv6CidrBlock", path, j), c.Ipv6CidrBlock); err != nil {
			return "", nil, err
		}
	}
	return v.VpcId, out, nil
}

func (b *Builder) addPeerings(raw []byte) error {
	var r rawPeerings
	if err := b.decode(raw, &r, "VpcPeeringConnections"); err != nil {
		return err
	}
	for i, p := range r.VpcPeeringConnections {
		path := fmt.Sprintf("$.VpcPeeringConnections[%d]", i)
		id, err := b.id(path+".VpcPeeringConnectionId", p.VpcPeeringConnectionId, "pcx-")
		if err != nil {
			return err
		}
		pc := &Peering{ID: id}
		if p.Status == nil || p.Status.Code == "" {
			return b.errf(path+".Status.Code", "missing")
		}
		pc.Status = p.Status.Code
		if pc.RequesterVPC, pc.RequesterNet, err = b.vpcInfo(path+".RequesterVpcInfo", p.RequesterVpcInfo); err != nil {
			return err
		}
		if pc.AccepterVPC, pc.AccepterNet, err = b.vpcInfo(path+".AccepterVpcInfo", p.AccepterVpcInfo); err != nil {
			return err
		}
		if err := remember(b, b.c.Peerings, id, pc, path); err != nil {
			return err
		}
	}
	return nil
}

func (b *Builder) addInternetGateways(raw []byte) error {
	var r rawInternetGateways
	if err := b.decode(raw, &r, "InternetGateways"); err != nil {
		return err
	}
	for i, g := range r.InternetGateways {
		path := fmt.Sprintf("$.InternetGateways[%d]", i)
		id, err := b.id(path+".InternetGatewayId", g.InternetGatewayId, "igw-")
		if err != nil {
			return err
		}
		igw := &InternetGateway{ID: id}
		for _, a := range g.Attachments {
			if a.State == "" || a.State == "available" || a.State == "attached" {
				igw.VPCs = append(igw.VPCs, a.VpcId)
			}
		}
		if err := remember(b, b.c.InternetGateways, id, igw, path); err != nil {
			return err
		}
	}
	return nil
}

func (b *Builder) addNATGateways(raw []byte) error {
	var r rawNATGateways
	if err := b.decode(raw, &r, "NatGateways"); err != nil {
		return err
	}
	for i, g := range r.NatGateways {
		path := fmt.Sprintf("$.NatGateways[%d]", i)
		id, err := b.id(path+".NatGatewayId", g.NatGatewayId, "nat-")
		if err != nil {
			return err
		}
		nat := &NATGateway{ID: id, SubnetID: g.SubnetId, VPCID: g.VpcId, State: g.State, Private: g.ConnectivityType == "private"}
		if err := remember(b, b.c.NATGateways, id, nat, path); err != nil {
			return err
		}
	}
	return nil
}

// pathAt is the JSON path ($.A[0].B) of the value that ends at offset in
// data, found by walking its tokens (encoding/json's type errors name the
// fields but not the array indexes). "" when the walk fails.
func pathAt(data []byte, offset int64) string {
	type level struct {
		array bool
		index int
		key   string
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var stack []level
	expectKey := false // inside an object, the next string is a key
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		top := len(stack) - 1
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				stack = append(stack, level{array: t == '['})
				expectKey = t == '{'
				continue
			default:
				stack = stack[:top]
				top--
			}
		case string:
			if expectKey && top >= 0 && !stack[top].array {
				stack[top].key = t
				expectKey = false
				continue
			}
		}
		// A whole value ended here.
		if dec.InputOffset() >= offset {
			var b strings.Builder
			b.WriteString("$")
			for _, l := range stack {
				if l.array {
					fmt.Fprintf(&b, "[%d]", l.index)
				} else {
					b.WriteString("." + l.key)
				}
			}
			return b.String()
		}
		if top >= 0 {
			if stack[top].array {
				stack[top].index++
			} else {
				expectKey = true
			}
		}
	}
}
