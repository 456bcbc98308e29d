package diagnose

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/flowlens/flowlens/diagnose/awsconfig"
)

// traffic is what one leg (request or reply) carries, as the rules see it.
type traffic struct {
	proto    int // -1: every protocol
	portFrom int // destination ports (TCP/UDP)
	portTo   int
	icmpType int
	icmpCode int
}

func portProto(p int) bool { return p == 6 || p == 17 }
func icmpProto(p int) bool { return p == 1 || p == 58 }

var protoNames = map[int]string{-1: "all traffic", 1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6"}

// ProtocolName is the name of an IP protocol number ("tcp", "47", ...).
func ProtocolName(p int) string {
	if n, ok := protoNames[p]; ok {
		return n
	}
	return fmt.Sprintf("protocol %d", p)
}

func (t traffic) String() string {
	switch {
	case portProto(t.proto) && t.portFrom == t.portTo:
		return fmt.Sprintf("%s port %d", ProtocolName(t.proto), t.portFrom)
	case portProto(t.proto):
		return fmt.Sprintf("%s ports %d-%d", ProtocolName(t.proto), t.portFrom, t.portTo)
	case icmpProto(t.proto):
		return fmt.Sprintf("%s type %d code %d", ProtocolName(t.proto), t.icmpType, t.icmpCode)
	}
	return ProtocolName(t.proto)
}

// interval is an inclusive port range.
type interval struct{ lo, hi int }

func subtract(set []interval, lo, hi int) []interval {
	var out []interval
	for _, iv := range set {
		if hi < iv.lo || lo > iv.hi {
			out = append(out, iv)
			continue
		}
		if iv.lo < lo {
			out = append(out, interval{iv.lo, lo - 1})
		}
		if iv.hi > hi {
			out = append(out, interval{hi + 1, iv.hi})
		}
	}
	return out
}

func intersects(set []interval, lo, hi int) bool {
	for _, iv := range set {
		if lo <= iv.hi && hi >= iv.lo {
			return true
		}
	}
	return false
}

// aclVerdict is the result of a network ACL evaluation: allowed, or the
// rule that denied (nil: the default * rule).
type aclVerdict struct {
	allowed bool
	rule    *awsconfig.ACLEntry
}

// evalACL applies entries (sorted by rule number, one direction) to
// traffic whose remote end is remote, AWS's way: the first rule that
// matches decides. For a port range the traffic is blocked when any port
// of it meets a deny rule before an allow rule; protocol -1 traffic is
// blocked by any matching deny rule and allowed only by -1 allow rules.
func evalACL(entries []awsconfig.ACLEntry, remote netip.Addr, t traffic) aclVerdict {
	remaining := []interval{{t.portFrom, t.portTo}}
	for i := range entries {
		e := &entries[i]
		if e.CIDR.Addr().Is4() != remote.Is4() || !e.CIDR.Contains(remote) {
			continue
		}
		if e.Protocol != -1 && e.Protocol != t.proto {
			if t.proto == -1 && !e.Allow {
				return aclVerdict{rule: e} // part of "all traffic" is denied
			}
			continue
		}
		switch {
		case e.Protocol == -1 || t.proto == -1:
			if e.Protocol == -1 {
				return aclVerdict{allowed: e.Allow, rule: e}
			}
		case portProto(t.proto) && e.HasPorts:
			if !intersects(remaining, e.PortFrom, e.PortTo) {
				continue
			}
			if !e.Allow {
				return aclVerdict{rule: e}
			}
			remaining = subtract(remaining, e.PortFrom, e.PortTo)
			if len(remaining) == 0 {
				return aclVerdict{allowed: true, rule: e}
			}
		case icmpProto(t.proto):
			if (e.ICMPType == -1 || e.ICMPType == t.icmpType) && (e.ICMPCode == -1 || e.ICMPCode == t.icmpCode) {
				return aclVerdict{allowed: e.Allow, rule: e}
			}
		default:
			return aclVerdict{allowed: e.Allow, rule: e}
		}
	}
	return aclVerdict{}
}

func describeEntry(e *awsconfig.ACLEntry) string {
	if e == nil {
		return "the default rule *"
	}
	action := "deny"
	if e.Allow {
		action = "allow"
	}
	what := ProtocolName(e.Protocol)
	switch {
	case portProto(e.Protocol) && e.HasPorts:
		what += fmt.Sprintf(" %d-%d", e.PortFrom, e.PortTo)
	case icmpProto(e.Protocol):
		what += fmt.Sprintf(" type %d code %d", e.ICMPType, e.ICMPCode)
	}
	if e.RuleNumber >= 32767 {
		return fmt.Sprintf("the default rule * (%s %s %s)", action, what, e.CIDR)
	}
	return fmt.Sprintf("rule %d (%s %s %s)", e.RuleNumber, action, what, e.CIDR)
}

// sgVerdict: allowed, or undecidable because a rule names a prefix list
// whose entries the export lacks and which might cover the address.
type sgVerdict struct {
	allowed     bool
	rulePath    string // the allowing rule
	undecidable string // prefix-list id
}

// evalSG applies the union of the groups' rules of one direction to
// traffic whose remote end is remote (peer: its interface when known, for
// rules that reference a group).
func (m *Model) evalSG(groups []*awsconfig.SecurityGroup, egress bool, remote netip.Addr, peer *iface, t traffic) sgVerdict {
	var v sgVerdict
	for _, g := range groups {
		rules := g.Ingress
		if egress {
			rules = g.Egress
		}
		for i := range rules {
			r := &rules[i]
			if !sgCovers(r, t) {
				continue
			}
			for _, c := range r.CIDRs {
				if c.Contains(remote) {
					return sgVerdict{allowed: true, rulePath: g.ID + " " + r.Path}
				}
			}
			for _, ref := range r.Groups {
				if peer != nil && peer.member[ref] {
					return sgVerdict{allowed: true, rulePath: g.ID + " " + r.Path}
				}
			}
			for _, pl := range r.PrefixLists {
				switch m.prefixListCovers(pl, remote) {
				case covers:
					return sgVerdict{allowed: true, rulePath: g.ID + " " + r.Path}
				case mightCover:
					if v.undecidable == "" {
						v.undecidable = pl
					}
				}
			}
		}
	}
	return v
}

// sgCovers tells whether rule r allows the whole of traffic t's protocol
// and port (ICMP type/code).
func sgCovers(r *awsconfig.SGRule, t traffic) bool {
	if r.Protocol == -1 {
		return true
	}
	if r.Protocol != t.proto {
		return false
	}
	switch {
	case portProto(t.proto):
		return r.FromPort <= t.portFrom && t.portTo <= r.ToPort
	case icmpProto(t.proto):
		return (r.FromPort == -1 || r.FromPort == t.icmpType) && (r.ToPort == -1 || r.ToPort == t.icmpCode)
	}
	return true
}

type coverage int

const (
	notCovered coverage = iota
	covers
	mightCover
)

// prefixListCovers: with its entries known, exactly; without them, an
// AWS-owned list (S3, DynamoDB, CloudFront...) holds only AWS public
// addresses, so it cannot cover a private one; any other list might
// cover any address of its family.
func (m *Model) prefixListCovers(id string, a netip.Addr) coverage {
	pl, ok := m.cfg.PrefixLists[id]
	if ok && pl.Known {
		for _, p := range pl.Entries {
			if p.Contains(a) {
				return covers
			}
		}
		return notCovered
	}
	if ok {
		fam := strings.ToLower(pl.Family)
		if (fam == "ipv4" && !a.Is4()) || (fam == "ipv6" && a.Is4()) {
			return notCovered
		}
		if pl.OwnerAWS && isPrivate(a) {
			return notCovered
		}
	}
	return mightCover
}

var privateNets = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("fc00::/7"), netip.MustParsePrefix("fe80::/10"),
}

// isPrivate: RFC 1918, RFC 6598 shared space, IPv6 unique-local and
// link-local addresses.
func isPrivate(a netip.Addr) bool {
	for _, p := range privateNets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
