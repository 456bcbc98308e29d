package diagnose

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/flowlens/flowlens/diagnose/awsconfig"
)

// Query is one path to analyse: a request from Src to Dst and its return
// traffic.
type Query struct {
	Src, Dst netip.Addr
	Protocol int // IP protocol number; -1 all traffic
	DstPort  int // TCP/UDP; ignored for other protocols
	// SrcPort is the client's port; -1: any of the ephemeral range
	// EphemeralFrom-EphemeralTo, all of which the return path must pass.
	SrcPort int
	// ICMPType/ICMPCode of the request; -1: echo request (ping), code 0.
	ICMPType, ICMPCode int
}

// Explanation is one reason the path is blocked.
type Explanation struct {
	Code        string `json:"code"`
	ComponentID string `json:"component_id"`
	Direction   string `json:"direction"`
	Message     string `json:"message"`

	// Leg is "request" or "return"; Side is "source" or "destination":
	// which interface's flow log records such a block.
	Leg  string `json:"leg"`
	Side string `json:"side"`
}

// Hop is one component evaluated on the path.
type Hop struct {
	Leg       string `json:"leg"`
	Component string `json:"component"` // network-interface, security-groups, network-acl, route-table, ...
	ID        string `json:"id"`
	Direction string `json:"direction,omitempty"`
	Verdict   string `json:"verdict"` // allow, deny, undecidable, skip, not-modelled
	Detail    string `json:"detail,omitempty"`
}

// Result is the analysis of a Query.
type Result struct {
	Reachable bool `json:"reachable"`
	// Undecidable: a prefix list without entries might allow the traffic;
	// Reachable is false because reachability is not proven.
	Undecidable  bool          `json:"undecidable"`
	Explanations []Explanation `json:"explanations"`
	Path         []Hop         `json:"path"`
}

// ErrUnknownEnds: neither address belongs to an interface of the export.
var ErrUnknownEnds = errors.New("neither address belongs to a network interface of the configuration")

// ErrQuery marks an invalid path question (addresses, protocol, ports).
var ErrQuery = errors.New("invalid path")

// analysis carries one evaluation; quiet skips the messages and hops (the
// flow-log grouping evaluates millions of tuples and needs codes only).
type analysis struct {
	m     *Model
	q     Query
	quiet bool
	res   Result
	leg   string

	// focus, when set, evaluates only the security groups and network
	// ACL of one leg ("request", "return") and side ("source",
	// "destination"), no routes, and stops at the first block: what
	// Classify needs, for millions of tuples.
	focusLeg, focusSide string
}

// skip tells whether a component of side on the current leg is outside the
// focus, or comes after the focus's first block.
func (a *analysis) skip(side string) bool {
	return a.focusLeg != "" && (a.leg != a.focusLeg || side != a.focusSide || len(a.res.Explanations) > 0)
}

// Analyze explains q. Every blocking reason is reported, in path order:
// source security groups (egress), source subnet network ACL (egress),
// source route table, destination subnet network ACL (ingress),
// destination security groups (ingress); then the return path: destination
// network ACL (egress), destination route table back, source network ACL
// (ingress). An address outside the export is an external end (the
// internet, on premises): only the known end's components are evaluated.
func (m *Model) Analyze(q Query) (*Result, error) {
	return m.analyze(q, false)
}

func (m *Model) analyze(q Query, quiet bool) (*Result, error) {
	return m.analyzeFocus(q, quiet, "", "")
}

// analyzeFocus is analyze restricted to the security groups and network
// ACL of one leg and side (see analysis.focusLeg); "" for the whole path.
func (m *Model) analyzeFocus(q Query, quiet bool, leg, side string) (*Result, error) {
	q.Src, q.Dst = q.Src.Unmap(), q.Dst.Unmap()
	if !q.Src.IsValid() || !q.Dst.IsValid() {
		return nil, fmt.Errorf("%w: source and destination addresses are required", ErrQuery)
	}
	if q.Src.Is4() != q.Dst.Is4() {
		return nil, fmt.Errorf("%w: %s and %s are not of the same IP version", ErrQuery, q.Src, q.Dst)
	}
	if q.Protocol == 1 && !q.Src.Is4() {
		q.Protocol = 58 // "icmp" between IPv6 addresses is ICMPv6
	}
	if q.Protocol < -1 || q.Protocol > 255 {
		return nil, fmt.Errorf("%w: protocol %d", ErrQuery, q.Protocol)
	}
	if portProto(q.Protocol) && (q.DstPort < 0 || q.DstPort > 65535) {
		return nil, fmt.Errorf("%w: %s needs a destination port 0-65535", ErrQuery, ProtocolName(q.Protocol))
	}
	if q.SrcPort > 65535 {
		return nil, fmt.Errorf("%w: source port %d", ErrQuery, q.SrcPort)
	}
	a := &analysis{m: m, q: q, quiet: quiet, focusLeg: leg, focusSide: side}
	src, dst := m.byAddr[q.Src], m.byAddr[q.Dst]
	if src == nil && dst == nil {
		return nil, ErrUnknownEnds
	}
	a.run(src, dst)
	a.res.Reachable = len(a.res.Explanations) == 0
	if a.res.Explanations == nil {
		a.res.Explanations = []Explanation{}
	}
	return &a.res, nil
}

func (a *analysis) run(src, dst *iface) {
	q := a.q
	req := a.requestTraffic()
	sameSubnet := src != nil && dst != nil && src.subnet == dst.subnet

	a.leg = "request"
	if src != nil {
		a.hop("network-interface", src.ID, "", "source", func() string { return fmt.Sprintf("%s in %s", q.Src, src.SubnetID) })
		a.sg(src, true, q.Dst, dst, req, "source")
		if !sameSubnet {
			a.nacl(src.subnet, true, q.Dst, req, "source")
		}
		a.route(src.subnet, q.Dst, dst, "source")
	} else {
		a.hop("external", q.Src.String(), "", "source", func() string { return "not in the configuration: its side is not evaluated" })
	}
	if dst != nil {
		if !sameSubnet {
			a.nacl(dst.subnet, false, q.Src, req, "destination")
		}
		a.sg(dst, false, q.Src, src, req, "destination")
		a.hop("network-interface", dst.ID, "", "destination", func() string { return fmt.Sprintf("%s in %s", q.Dst, dst.SubnetID) })
	} else {
		a.hop("external", q.Dst.String(), "", "destination", func() string { return "not in the configuration: its side is not evaluated" })
	}

	rep, ok := a.replyTraffic()
	if !ok {
		return
	}
	// Security groups are stateful: the reply passes them. Network ACLs
	// are not: the reply needs its own rules.
	a.leg = "return"
	if dst != nil {
		if !sameSubnet {
			a.nacl(dst.subnet, true, q.Src, rep, "destination")
		}
		a.route(dst.subnet, q.Src, src, "destination")
	}
	if src != nil && !sameSubnet {
		a.nacl(src.subnet, false, q.Dst, rep, "source")
	}
}

// requestTraffic is what the request carries.
func (a *analysis) requestTraffic() traffic {
	q := a.q
	t := traffic{proto: q.Protocol, icmpType: q.ICMPType, icmpCode: q.ICMPCode}
	if portProto(q.Protocol) {
		t.portFrom, t.portTo = q.DstPort, q.DstPort
	}
	if icmpProto(q.Protocol) && t.icmpType < 0 {
		t.icmpType = 8
		if q.Protocol == 58 {
			t.icmpType = 128
		}
	}
	if icmpProto(q.Protocol) && t.icmpCode < 0 {
		t.icmpCode = 0
	}
	return t
}

// icmpReplies maps an ICMP query type to its reply: echo, timestamp,
// information, address mask; ICMPv6 echo.
var icmpReplies = map[[2]int]int{{1, 8}: 0, {1, 13}: 14, {1, 15}: 16, {1, 17}: 18, {58, 128}: 129}

// replyTraffic is what the return traffic carries; false when the request
// gets no reply (an ICMP message that is not a query).
func (a *analysis) replyTraffic() (traffic, bool) {
	q := a.q
	req := a.requestTraffic()
	t := traffic{proto: q.Protocol}
	switch {
	case portProto(q.Protocol):
		t.portFrom, t.portTo = EphemeralFrom, EphemeralTo
		if q.SrcPort >= 0 {
			t.portFrom, t.portTo = q.SrcPort, q.SrcPort
		}
	case icmpProto(q.Protocol):
		r, ok := icmpReplies[[2]int{q.Protocol, req.icmpType}]
		if !ok {
			return t, false
		}
		t.icmpType, t.icmpCode = r, 0
	}
	return t, true
}

func (a *analysis) hop(component, id, dir, side string, detail func() string) {
	a.hopVerdict(component, func() string { return id }, dir, "allow", detail)
	_ = side
}

// hopVerdict records a hop; id and detail are built only when the path is
// wanted (not in quiet mode).
func (a *analysis) hopVerdict(component string, id func() string, dir, verdict string, detail func() string) {
	if a.quiet {
		return
	}
	a.res.Path = append(a.res.Path, Hop{Leg: a.leg, Component: component, ID: id(), Direction: dir, Verdict: verdict, Detail: detail()})
}

func (a *analysis) explain(code, component, dir, side string, msg func() string) {
	e := Explanation{Code: code, ComponentID: component, Direction: dir, Leg: a.leg, Side: side}
	if !a.quiet {
		e.Message = msg()
	}
	a.res.Explanations = append(a.res.Explanations, e)
}

func direction(egress bool) string {
	if egress {
		return "egress"
	}
	return "ingress"
}

func (a *analysis) sg(f *iface, egress bool, remote netip.Addr, peer *iface, t traffic, side string) {
	if a.skip(side) {
		return
	}
	dir := direction(egress)
	ids := f.Groups
	v := a.m.evalSG(f.groups, egress, remote, peer, t)
	groups := ""
	if !a.quiet {
		groups = strings.Join(ids, ", ")
	}
	switch {
	case v.allowed:
		a.hopVerdict("security-groups", func() string { return groups }, dir, "allow", func() string { return "allowed by " + v.rulePath })
	case v.undecidable != "":
		a.res.Undecidable = true
		a.hopVerdict("security-groups", func() string { return groups }, dir, "undecidable", func() string { return "only a rule naming " + v.undecidable + " might allow it" })
		a.explain(CodeUnknownResource, v.undecidable, dir, side, func() string {
			return fmt.Sprintf("undecidable: no rule of %s on %s allows %s %s %s except one naming prefix list %s, whose entries the export lacks; add its entries (aws ec2 get-managed-prefix-list-entries --prefix-list-id %s, saved with \"PrefixListId\") to decide",
				orNone(groups), f.ID, t, toFrom(egress), remote, v.undecidable, v.undecidable)
		})
	default:
		a.hopVerdict("security-groups", func() string { return groups }, dir, "deny", func() string { return "no rule allows " + t.String() })
		a.explain(CodeSGRulesMismatch, f.ID, dir, side, func() string {
			fix := "an inbound"
			if egress {
				fix = "an outbound"
			}
			target := "one of its groups"
			if len(ids) > 0 {
				target = ids[0]
			}
			peerHint := fmt.Sprintf("%s/%d", remote, remote.BitLen())
			if peer != nil && len(peer.Groups) > 0 {
				peerHint += " (or its security group " + peer.Groups[0] + ")"
			}
			return fmt.Sprintf("no %s rule of the security groups of %s (%s) allows %s %s %s; add %s rule for %s %s %s to %s",
				strings.TrimPrefix(fix, "an "), f.ID, orNone(groups), t, toFrom(egress), remote, fix, t, toFrom(egress), peerHint, target)
		})
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func toFrom(egress bool) string {
	if egress {
		return "to"
	}
	return "from"
}

func (a *analysis) nacl(s *subnet, egress bool, remote netip.Addr, t traffic, side string) {
	if a.skip(side) {
		return
	}
	dir := direction(egress)
	if s.acl == nil {
		a.hopVerdict("network-acl", func() string { return s.id }, dir, "not-modelled", func() string { return "the export has no network ACL for " + s.id + ": assumed to allow" })
		return
	}
	entries := s.acl.ingress
	if egress {
		entries = s.acl.egress
	}
	v := evalACL(entries, remote, t)
	if v.allowed {
		a.hopVerdict("network-acl", func() string { return s.acl.id }, dir, "allow", func() string { return "allowed by " + describeEntry(v.rule) })
		return
	}
	a.hopVerdict("network-acl", func() string { return s.acl.id }, dir, "deny", func() string { return "denied by " + describeEntry(v.rule) })
	a.explain(CodeSubnetACL, s.acl.id, dir, side, func() string {
		where := "inbound"
		if egress {
			where = "outbound"
		}
		rule := describeEntry(v.rule)
		if v.rule == nil || v.rule.RuleNumber >= 32767 {
			rule = "the default rule *"
			if remote.Is6() {
				rule += " (32768, ::/0)"
			} else {
				rule += " (32767, 0.0.0.0/0)"
			}
			return fmt.Sprintf("no %s rule of %s (subnet %s) allows %s %s %s, so %s denies it; add an %s allow rule for %s %s %s/%d",
				where, s.acl.id, s.id, t, toFrom(egress), remote, rule, where, t, toFrom(egress), remote, remote.BitLen())
		}
		return fmt.Sprintf("%s %s of %s (subnet %s) matches %s %s %s first and denies it; add an allow rule numbered below %d, or change rule %d",
			where, rule, s.acl.id, s.id, t, toFrom(egress), remote, v.rule.RuleNumber, v.rule.RuleNumber)
	})
}

// route evaluates the route table of subnet s towards dst (peer: dst's
// interface when known).
func (a *analysis) route(s *subnet, dst netip.Addr, peer *iface, side string) {
	if a.focusLeg != "" {
		return
	}
	t := s.routes
	if t == nil {
		a.hopVerdict("route-table", func() string { return s.id }, "", "not-modelled", func() string { return "the export has no route table for " + s.id + ": assumed to deliver" })
		return
	}
	r := a.m.lookupRoute(t, dst)
	switch {
	case r == nil:
		a.hopVerdict("route-table", func() string { return t.ID }, "", "deny", func() string { return "no route to " + dst.String() })
		a.explain(CodeNoRoute, t.ID, "", side, func() string {
			return fmt.Sprintf("route table %s (subnet %s) has no route covering %s; add a route to %s through the gateway or peering connection that reaches it",
				t.ID, s.id, dst, a.m.destHint(dst))
		})
		return
	case r.Blackhole || a.m.inactivePeering(r.Target):
		a.hopVerdict("route-table", func() string { return t.ID }, "", "deny", func() string { return fmt.Sprintf("route %s -> %s is a blackhole", routeDest(r), orNone(r.Target)) })
		a.explain(CodeBadStateRoute, t.ID, "", side, func() string {
			why := "its target no longer exists"
			if strings.HasPrefix(r.Target, "pcx-") {
				why = "peering connection " + r.Target + " is not active"
				if p, ok := a.m.cfg.Peerings[r.Target]; ok {
					why += " (" + p.Status + ")"
				}
			}
			return fmt.Sprintf("route %s -> %s of %s (subnet %s), the longest match for %s, is a blackhole: %s; accept or recreate the target and replace the route",
				routeDest(r), orNone(r.Target), t.ID, s.id, dst, why)
		})
		return
	}
	detail := ""
	if !a.quiet {
		detail = fmt.Sprintf("route %s -> %s", routeDest(r), r.Target)
	}
	switch {
	case r.Target == "local":
	case strings.HasPrefix(r.Target, "pcx-"):
		if p, ok := a.m.cfg.Peerings[r.Target]; ok {
			other, nets := p.AccepterVPC, p.AccepterNet
			if other == t.VPCID {
				other, nets = p.RequesterVPC, p.RequesterNet
			}
			inPeer := false
			for _, n := range nets {
				inPeer = inPeer || n.Contains(dst)
			}
			if peer != nil && peer.vpc != "" && other != "" {
				inPeer = peer.vpc == other
			}
			if !inPeer {
				a.hopVerdict("route-table", func() string { return t.ID }, "", "deny", func() string { return detail })
				a.explain(CodePCXAddress, r.Target, "", side, func() string {
					return fmt.Sprintf("route %s of %s sends %s to peering connection %s, but %s is not in the peer VPC %s; route it to the connection of the VPC that holds it",
						routeDest(r), t.ID, dst, r.Target, dst, orNone(other))
				})
				return
			}
		}
	case strings.HasPrefix(r.Target, "igw-") || strings.HasPrefix(r.Target, "nat-"):
		if dst.Is4() && isPrivate(dst) && !a.m.privateNAT(r.Target) {
			gw := a.m.gatewayTowards(r.Target, dst)
			a.hopVerdict("route-table", func() string { return t.ID }, "", "deny", func() string { return detail })
			a.explain(CodeIGWPrivateDest, gw, "", side, func() string {
				where := "a private address"
				if dstVPC := a.m.vpcOf(dst); dstVPC != "" {
					where = "a private address in " + dstVPC
				}
				return fmt.Sprintf("route %s of %s sends %s (%s) to %s; an internet gateway drops traffic to RFC 1918 addresses; add a route to it through a VPC peering connection or transit gateway",
					routeDest(r), t.ID, dst, where, r.Target)
			})
			return
		}
	default:
		detail += " (target not modelled: assumed to deliver)"
	}
	a.hopVerdict("route-table", func() string { return t.ID }, "", "allow", func() string { return detail })
}

func routeDest(r *awsconfig.Route) string {
	if r.PrefixList != "" {
		return r.PrefixList
	}
	return r.Dest.String()
}

// lookupRoute is the longest-prefix match of dst in t (nil: none). Routes
// to a prefix list use its entries when known.
func (m *Model) lookupRoute(t *awsconfig.RouteTable, dst netip.Addr) *awsconfig.Route {
	var best *awsconfig.Route
	bestBits := -1
	for i := range t.Routes {
		r := &t.Routes[i]
		bits := -1
		if r.PrefixList != "" {
			if pl, ok := m.cfg.PrefixLists[r.PrefixList]; ok && pl.Known {
				for _, p := range pl.Entries {
					if p.Contains(dst) && p.Bits() > bits {
						bits = p.Bits()
					}
				}
			}
		} else if r.Dest.Addr().Is4() == dst.Is4() && r.Dest.Contains(dst) {
			bits = r.Dest.Bits()
		}
		// On equal prefixes the local route wins, as in AWS.
		if bits > bestBits || (bits == bestBits && bits >= 0 && r.Target == "local") {
			best, bestBits = r, bits
		}
	}
	return best
}

func (m *Model) inactivePeering(target string) bool {
	if !strings.HasPrefix(target, "pcx-") {
		return false
	}
	p, ok := m.cfg.Peerings[target]
	return ok && p.Status != "active"
}

func (m *Model) privateNAT(target string) bool {
	n, ok := m.natByID[target]
	return ok && n.Private
}

// gatewayTowards: for a NAT gateway, the internet gateway its own subnet's
// route table sends dst to (where the packet is dropped); else target.
func (m *Model) gatewayTowards(target string, dst netip.Addr) string {
	n, ok := m.natByID[target]
	if !ok {
		return target
	}
	s, ok := m.subnets[n.SubnetID]
	if !ok || s.routes == nil {
		return target
	}
	if r := m.lookupRoute(s.routes, dst); r != nil && strings.HasPrefix(r.Target, "igw-") {
		return r.Target
	}
	return target
}

// destHint names the network of dst for a fix message.
func (m *Model) destHint(dst netip.Addr) string {
	if v := m.vpcOf(dst); v != "" {
		for _, p := range m.vpcCIDRs[v] {
			if p.Contains(dst) {
				return p.String() + " (" + v + ")"
			}
		}
		return dst.String() + " (" + v + ")"
	}
	return dst.String()
}

// PathParams are a path check's parameters as the CLI's flags and the
// API's query parameters give them (same names); -1: a number not given.
type PathParams struct {
	Src, Dst, Protocol                   string
	DstPort, SrcPort, ICMPType, ICMPCode int
}

// Query validates p into a Query. Errors wrap ErrQuery and name the
// parameter with prefix ("--" for the CLI's flags, "" for the API).
func (p PathParams) Query(prefix string) (Query, error) {
	q := Query{SrcPort: p.SrcPort, DstPort: p.DstPort, ICMPType: p.ICMPType, ICMPCode: p.ICMPCode}
	var err error
	if q.Src, err = netip.ParseAddr(p.Src); err != nil {
		return q, fmt.Errorf("%w: %ssrc %q: not an IP address", ErrQuery, prefix, p.Src)
	}
	if q.Dst, err = netip.ParseAddr(p.Dst); err != nil {
		return q, fmt.Errorf("%w: %sdst %q: not an IP address", ErrQuery, prefix, p.Dst)
	}
	if q.Protocol, err = ParseProtocol(p.Protocol); err != nil {
		return q, fmt.Errorf("%w: %sprotocol %q: %v", ErrQuery, prefix, p.Protocol, err)
	}
	if portProto(q.Protocol) && p.DstPort == -1 {
		return q, fmt.Errorf("%w: %sdst-port is required for %s", ErrQuery, prefix, p.Protocol)
	}
	for _, n := range []struct {
		name     string
		v, limit int
	}{{"dst-port", p.DstPort, 65535}, {"src-port", p.SrcPort, 65535}, {"icmp-type", p.ICMPType, 255}, {"icmp-code", p.ICMPCode, 255}} {
		if n.v < -1 || n.v > n.limit {
			return q, fmt.Errorf("%w: %s%s %d: want 0-%d", ErrQuery, prefix, n.name, n.v, n.limit)
		}
	}
	return q, nil
}

// ParseProtocol reads tcp, udp, icmp, icmpv6, -1 or all, or a protocol
// number 0-255.
func ParseProtocol(s string) (int, error) {
	switch strings.ToLower(s) {
	case "tcp":
		return 6, nil
	case "udp":
		return 17, nil
	case "icmp":
		return 1, nil
	case "icmpv6":
		return 58, nil
	case "-1", "all":
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < -1 || n > 255 {
		return 0, errors.New("want tcp, udp, icmp, icmpv6, -1 or a protocol number 0-255")
	}
	return n, nil
}
