package diagnose

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flowlens/flowlens/diagnose/awsconfig"
)

// loadScenario loads testdata/base with the files of
// testdata/overlays/<overlay> replacing the base files of the same name.
func loadScenario(t testing.TB, overlay string) *Model {
	t.Helper()
	files := map[string]string{}
	add := func(dir string) {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			files[e.Name()] = filepath.Join(dir, e.Name())
		}
	}
	add("testdata/base")
	if overlay != "" {
		add(filepath.Join("testdata/overlays", overlay))
	}
	var paths []string
	for _, p := range files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	cfg, err := awsconfig.LoadFiles(paths, awsconfig.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return Compile(cfg)
}

// Addresses of testdata/base.
const (
	web1    = "10.0.1.10"
	web2    = "10.0.1.11"
	bastion = "10.0.1.5"
	app1    = "10.0.2.20"
	db1     = "10.0.3.30"
	b1      = "10.1.1.40"
	c1      = "10.2.1.50"
	d1      = "10.3.1.60"
	web1v6  = "2600:1f18:100:1::10"
	app1v6  = "2600:1f18:100:2::20"

	eniWeb1    = "eni-0web1000000000001"
	eniWeb2    = "eni-0web2000000000002"
	eniBastion = "eni-0bast000000000005"
	eniApp1    = "eni-0app1000000000020"
	eniDB1     = "eni-0db10000000000030"
	eniB1      = "eni-0b10000000000040a"
	eniC1      = "eni-0c10000000000050a"

	aclDefaultA = "acl-0default0000000a"
	aclDB       = "acl-0db00000000000003"
	aclApp      = "acl-0app00000000000002"
	rtbMainA    = "rtb-0main000000000000a"
	rtbPublic   = "rtb-0public0000000000"
	rtbDB       = "rtb-0db00000000000003"
	rtbB        = "rtb-0main000000000000b"
	rtbC        = "rtb-0main000000000000c"
	rtbD        = "rtb-0main000000000000d"
	igwA        = "igw-0aaa00000000000a"
)

// want is one expected explanation: code, component id, direction.
type want [3]string

func sg(eni, dir string) want       { return want{CodeSGRulesMismatch, eni, dir} }
func nacl(acl, dir string) want     { return want{CodeSubnetACL, acl, dir} }
func noRoute(rtb string) want       { return want{CodeNoRoute, rtb, ""} }
func blackhole(rtb string) want     { return want{CodeBadStateRoute, rtb, ""} }
func unknownPL(pl, dir string) want { return want{CodeUnknownResource, pl, dir} }

type scenario struct {
	name    string
	source  string // where the case comes from
	overlay string
	q       Query
	ok      bool
	want    []want
}

func tcp(src, dst string, port int) Query {
	return Query{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Protocol: 6, DstPort: port, SrcPort: -1, ICMPType: -1, ICMPCode: -1}
}

func udp(src, dst string, port int) Query {
	q := tcp(src, dst, port)
	q.Protocol = 17
	return q
}

func proto(src, dst string, p int) Query {
	q := tcp(src, dst, 0)
	q.Protocol = p
	return q
}

func withSrcPort(q Query, p int) Query { q.SrcPort = p; return q }

func icmpType(q Query, typ, code int) Query { q.ICMPType, q.ICMPCode = typ, code; return q }

const (
	kcSSH       = "Knowledge Center: connect to an EC2 instance over SSH times out (security group inbound rule for port 22)"
	kcEphemeral = "VPC user guide, network ACLs: ephemeral ports (the reply goes to the client's ephemeral port; Linux uses 32768-60999)"
	kcOrder     = "VPC user guide, network ACL rules: rules are evaluated in ascending rule number, the first match applies"
	kcDefault   = "VPC user guide, network ACL rules: the * rule denies what no numbered rule matches (32767 IPv4, 32768 IPv6)"
	kcPeering   = "VPC peering guide: update route tables on both sides of the peering connection"
	kcBlackhole = "VPC user guide, route tables: a route whose target is gone (deleted ENI, inactive peering) is a blackhole"
	kcSGRef     = "VPC user guide, security groups: a rule referencing a security group allows traffic from its members"
	kcICMP      = "VPC user guide, security group rules for ping (ICMP echo request type 8) and network ACL echo reply"
	kcDNS       = "Knowledge Center: DNS over UDP 53 between subnets"
	kcIPv6      = "VPC user guide, IPv6: separate ::/0 rules and routes for IPv6"
	kcSameSub   = "VPC user guide, network ACLs: traffic within a subnet is not evaluated by its network ACL"
	kcPrefix    = "VPC user guide, managed prefix lists referenced by security group rules"
	kcIGW       = "Reachability Analyzer explanation codes: IGW_DESTINATION_ADDRESS_NOT_IN_RFC1918_EGRESS"
	kcMain      = "VPC user guide, route tables: a subnet without an explicit association uses the main route table"
	kcLPM       = "VPC user guide, route priority: the most specific route that matches is used"
	kcStateful  = "VPC user guide, security groups are stateful: responses are allowed regardless of outbound rules"
	kcFlowLog   = "VPC flow log records example: ping allowed in, reply rejected out by the network ACL"
)

var scenarios = []scenario{
	{name: "ssh from the office to the bastion", source: kcSSH, q: tcp("203.0.113.5", bastion, 22), ok: true},
	{name: "ssh from an address outside the office times out", source: kcSSH, q: tcp("198.51.100.7", bastion, 22),
		want: []want{sg(eniBastion, "ingress")}},
	{name: "ssh from the bastion by referenced group", source: kcSGRef, q: tcp(bastion, web1, 22), ok: true},
	{name: "ssh from a non-member of the referenced group", source: kcSGRef, q: tcp(app1, web1, 22),
		want: []want{sg(eniWeb1, "ingress")}},
	{name: "web to app on 8080 by referenced group across subnets", source: kcSGRef, q: tcp(web1, app1, 8080), ok: true},
	{name: "app to database through the database network ACL", source: kcEphemeral, q: tcp(app1, db1, 5432), ok: true},
	{name: "web to database is not in the database group's sources", source: kcSGRef, q: tcp(web1, db1, 5432),
		want: []want{sg(eniDB1, "ingress")}},
	{name: "app to database 3306 through a prefix list with entries", source: kcPrefix, q: tcp(app1, db1, 3306), ok: true},
	{name: "prefix list without entries is undecidable", source: kcPrefix, q: tcp("198.51.100.9", web1, 8443),
		want: []want{unknownPL("pl-0partner00000000", "ingress")}},
	{name: "dns over udp to the internet through the internet gateway", source: kcDNS, q: udp(web1, "8.8.8.8", 53), ok: true},
	{name: "aws-managed prefix list is undecidable for a public address, and no route", source: kcPrefix,
		q: tcp(db1, "52.216.10.10", 443), want: []want{unknownPL("pl-63a5400a", "egress"), noRoute(rtbDB)}},
	{name: "aws-managed prefix list cannot cover a private address", source: kcPrefix, q: tcp(db1, web1, 443),
		want: []want{sg(eniDB1, "egress")}},
	{name: "app to peer VPC over an active peering with routes both sides", source: kcPeering, q: tcp(app1, b1, 5432), ok: true},
	{name: "web to peer VPC: peer group denies and no route back", source: kcPeering, q: tcp(web1, b1, 5432),
		want: []want{sg(eniB1, "ingress"), noRoute(rtbB)}},
	{name: "peering pending acceptance: blackhole routes on both sides", source: kcBlackhole, q: tcp(app1, c1, 22),
		want: []want{blackhole(rtbMainA), blackhole(rtbC)}},
	{name: "same subnet needs no network ACL", source: kcSameSub, q: tcp(web1, web2, 443), ok: true},
	{name: "ping from inside the VPC", source: kcICMP, q: proto(app1, web1, 1), ok: true},
	{name: "ping from the internet is not allowed by the group", source: kcICMP, q: proto("203.0.113.5", web1, 1),
		want: []want{sg(eniWeb1, "ingress")}},
	{name: "icmp timestamp is not echo", source: kcICMP, q: icmpType(proto(app1, web1, 1), 13, 0),
		want: []want{sg(eniWeb1, "ingress")}},
	{name: "dns over udp from web to app", source: kcDNS, q: udp(web1, app1, 53), ok: true},
	{name: "dns over udp to the peer VPC", source: kcDNS, q: udp(app1, b1, 53), ok: true},
	{name: "ipv6 https from the internet", source: kcIPv6, q: tcp("2001:db8::1", web1v6, 443), ok: true},
	{name: "ipv6 to a private subnet: group denies and no ::/0 route back", source: kcIPv6, q: tcp("2001:db8::1", app1v6, 443),
		want: []want{sg(eniApp1, "ingress"), noRoute(rtbMainA)}},
	{name: "gre is not in any rule of the app group", source: "protocols without ports (GRE 47)", q: proto(web1, app1, 47),
		want: []want{sg(eniApp1, "ingress")}},
	{name: "esp to VPC C over the inactive peering", source: "protocols without ports (ESP 50)", q: proto(app1, c1, 50),
		want: []want{blackhole(rtbMainA), blackhole(rtbC)}},
	{name: "all traffic needs an all-traffic rule", source: kcSGRef, q: proto(web1, web2, -1),
		want: []want{sg(eniWeb2, "ingress")}},
	{name: "internet gateway drops a private destination in another VPC", source: kcIGW, q: tcp(web1, c1, 22),
		want: []want{{CodeIGWPrivateDest, igwA, ""}, blackhole(rtbC)}},
	{name: "nat gateway path to a private address ends at the internet gateway", source: kcIGW, q: tcp(app1, d1, 22),
		want: []want{{CodeIGWPrivateDest, igwA, ""}, noRoute(rtbD)}},
	{name: "no route from the database subnet to an unconnected VPC", source: kcMain, q: tcp(db1, d1, 22),
		want: []want{sg(eniDB1, "egress"), nacl(aclDB, "egress"), noRoute(rtbDB), noRoute(rtbD)}},
	{name: "blackhole route to a deleted interface", source: kcBlackhole, q: tcp(db1, b1, 5432),
		want: []want{sg(eniDB1, "egress"), nacl(aclDB, "egress"), blackhole(rtbDB), sg(eniB1, "ingress"), noRoute(rtbB)}},
	{name: "replies pass stateful groups without outbound rules", source: kcStateful, q: tcp(app1, db1, 5432), ok: true},
	{name: "a fixed source port inside the allowed reply range", source: kcEphemeral, q: withSrcPort(tcp(app1, db1, 5432), 40000), ok: true},

	// Overlays: each changes one or two files of the base.
	{name: "windows ephemeral range on the database outbound rule blocks linux replies", source: kcEphemeral, overlay: "db-acl-ephemeral-1024-32767",
		q: tcp(app1, db1, 5432), want: []want{nacl(aclDB, "egress")}},
	{name: "the same with a source port the rule covers", source: kcEphemeral, overlay: "db-acl-ephemeral-1024-32767",
		q: withSrcPort(tcp(app1, db1, 5432), 20000), ok: true},
	{name: "the same with a source port above the rule", source: kcEphemeral, overlay: "db-acl-ephemeral-1024-32767",
		q: withSrcPort(tcp(app1, db1, 5432), 40000), want: []want{nacl(aclDB, "egress")}},
	{name: "deny rule numbered before the allow rule matches first", source: kcOrder, overlay: "db-acl-deny-first",
		q: tcp(app1, db1, 5432), want: []want{nacl(aclDB, "ingress")}},
	{name: "deny rule numbered after the allow rule never matches", source: kcOrder, overlay: "db-acl-deny-after",
		q: tcp(app1, db1, 5432), ok: true},
	{name: "no rule for the port: the default rule denies", source: kcDefault, overlay: "db-acl-no-ephemeral-inbound",
		q: tcp(db1, "52.216.10.10", 443), want: []want{unknownPL("pl-63a5400a", "egress"), noRoute(rtbDB), nacl(aclDB, "ingress")}},
	{name: "source subnet network ACL denies the request outbound", source: kcOrder, overlay: "app-acl-no-db",
		q: tcp(app1, db1, 5432), want: []want{nacl(aclApp, "egress")}},
	{name: "the app subnet network ACL does not apply to web to database", source: kcSameSub, overlay: "app-acl-no-db",
		q: tcp(web1, db1, 5432), want: []want{sg(eniDB1, "ingress")}},
	{name: "several blocks: app egress, db ingress group", source: "several blocks at once", overlay: "app-acl-closed",
		q: tcp(app1, db1, 1000), want: []want{nacl(aclApp, "egress"), nacl(aclDB, "ingress"), sg(eniDB1, "ingress"), nacl(aclApp, "ingress")}},
	{name: "same subnet ignores a closed network ACL", source: kcSameSub, overlay: "app-acl-closed",
		q: tcp(web1, web2, 443), ok: true},
	{name: "ipv6 without ipv6 rules hits the 32768 default rule", source: kcIPv6 + "; " + kcDefault, overlay: "default-acl-ipv4-only",
		q: tcp(app1v6, web1v6, 443), want: []want{nacl(aclDefaultA, "egress"), nacl(aclDefaultA, "ingress"), nacl(aclDefaultA, "egress"), nacl(aclDefaultA, "ingress")}},
	{name: "ping allowed in, echo reply denied out", source: kcFlowLog, overlay: "web-acl-no-icmp-out",
		q: proto(app1, web1, 1), want: []want{nacl("acl-0web00000000000001", "egress")}},
	{name: "udp denied by protocol number before allow all", source: kcDNS + "; " + kcOrder, overlay: "app-acl-deny-udp",
		q: udp(web1, app1, 53), want: []want{nacl(aclApp, "ingress")}},
	{name: "tcp passes the udp deny rule", source: kcOrder, overlay: "app-acl-deny-udp", q: tcp(web1, app1, 8080), ok: true},
	{name: "a more specific blackhole route wins over the peering route", source: kcLPM, overlay: "public-rtb-specific-blackhole",
		q: udp(web1, b1, 53), want: []want{blackhole(rtbPublic), noRoute(rtbB)}},
	{name: "a more specific peering route wins over a blackhole", source: kcLPM, overlay: "db-rtb-specific-peering",
		q: udp(db1, b1, 53), want: []want{sg(eniDB1, "egress"), nacl(aclDB, "egress"), noRoute(rtbB), nacl(aclDB, "ingress")}},
	{name: "peer VPC route back added: web reaches the peer", source: kcPeering, overlay: "peer-b-route-back",
		q: udp(web1, b1, 53), ok: true},
}

func TestAnalyzeScenarios(t *testing.T) {
	if len(scenarios) < 40 {
		t.Fatalf("%d scenarios, want at least 40", len(scenarios))
	}
	models := map[string]*Model{}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			m := models[sc.overlay]
			if m == nil {
				m = loadScenario(t, sc.overlay)
				models[sc.overlay] = m
			}
			res, err := m.Analyze(sc.q)
			if err != nil {
				t.Fatal(err)
			}
			var got []want
			for _, e := range res.Explanations {
				got = append(got, want{e.Code, e.ComponentID, e.Direction})
				if e.Message == "" {
					t.Errorf("%s on %s has no message", e.Code, e.ComponentID)
				}
			}
			if res.Reachable != sc.ok || !slices.Equal(got, sc.want) {
				var msgs []string
				for _, e := range res.Explanations {
					msgs = append(msgs, e.Message)
				}
				t.Errorf("%s (%s)\nreachable %v, want %v\ngot  %v\nwant %v\n%s", sc.name, sc.source, res.Reachable, sc.ok, got, sc.want, strings.Join(msgs, "\n"))
			}
			if len(res.Path) == 0 {
				t.Error("no hops in the path")
			}
		})
	}
}
