package diagnose

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
)

// GenConfig shapes a generated configuration and flow log (benchmarks and
// the grouping tests): one VPC of Interfaces interfaces in subnets of 50,
// web, app and database tiers, every third subnet with a network ACL whose
// outbound ephemeral rule stops at 32767 (so Linux replies above it are
// rejected).
type GenConfig struct {
	Interfaces int    // default 1,000; at least 150 (a subnet of each tier)
	Records    int    // flow-log records
	Seed       uint64 // records
	Start      int64  // Unix seconds of the first record
}

// interfaces: at least one subnet of each tier.
func (c GenConfig) interfaces() int {
	if c.Interfaces <= 0 {
		return 1000
	}
	return max(c.Interfaces, 150)
}

// genIface is the generator's view of one interface.
type genIface struct {
	id, addr, tier string
	strict         bool // its subnet's ACL rejects replies above 32767
}

func genIfaces(n int) []genIface {
	out := make([]genIface, n)
	tiers := []string{"web", "app", "db"}
	for i := range out {
		sub := i / 50
		out[i] = genIface{
			id:     fmt.Sprintf("eni-%017x", 0x1000+i),
			addr:   fmt.Sprintf("10.0.%d.%d", sub, i%50+10),
			tier:   tiers[sub%3],
			strict: sub%3 == 2, // database subnets
		}
	}
	return out
}

// GenerateConfig returns the AWS CLI outputs (file name -> JSON) of a
// configuration of cfg.Interfaces interfaces.
func GenerateConfig(cfg GenConfig) map[string][]byte {
	cfg.Interfaces = cfg.interfaces()
	ifs := genIfaces(cfg.Interfaces)
	const vpc = "vpc-0gen0000000000001"
	type m = map[string]any
	type l = []any
	var enis, subnets, assocStrict, assocOpen l
	for i, f := range ifs {
		sub := fmt.Sprintf("subnet-%017x", i/50)
		if i%50 == 0 {
			subnets = append(subnets, m{"SubnetId": sub, "VpcId": vpc, "CidrBlock": fmt.Sprintf("10.0.%d.0/24", i/50)})
			a := m{"SubnetId": sub}
			if f.strict {
				assocStrict = append(assocStrict, a)
			} else {
				assocOpen = append(assocOpen, a)
			}
		}
		enis = append(enis, m{"NetworkInterfaceId": f.id, "SubnetId": sub, "VpcId": vpc, "PrivateIpAddress": f.addr,
			"PrivateIpAddresses": l{m{"PrivateIpAddress": f.addr, "Primary": true}},
			"Groups":             l{m{"GroupId": "sg-0" + f.tier + "00000000000"}}})
	}
	all := func(egress bool, action string, n int) m {
		return m{"RuleNumber": n, "Protocol": "-1", "RuleAction": action, "Egress": egress, "CidrBlock": "0.0.0.0/0"}
	}
	tcp := func(egress bool, n, from, to int, cidr string) m {
		return m{"RuleNumber": n, "Protocol": "6", "RuleAction": "allow", "Egress": egress, "CidrBlock": cidr, "PortRange": m{"From": from, "To": to}}
	}
	perm := func(port int, cidr, group string) m {
		p := m{"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": l{}, "UserIdGroupPairs": l{}}
		if cidr != "" {
			p["IpRanges"] = l{m{"CidrIp": cidr}}
		}
		if group != "" {
			p["UserIdGroupPairs"] = l{m{"GroupId": group}}
		}
		return p
	}
	egressAll := l{m{"IpProtocol": "-1", "IpRanges": l{m{"CidrIp": "0.0.0.0/0"}}}}
	files := map[string]any{
		"vpcs.json":    m{"Vpcs": l{m{"VpcId": vpc, "CidrBlock": "10.0.0.0/16"}}},
		"subnets.json": m{"Subnets": subnets},
		"enis.json":    m{"NetworkInterfaces": enis},
		"sgs.json": m{"SecurityGroups": l{
			m{"GroupId": "sg-0web00000000000", "VpcId": vpc, "IpPermissions": l{perm(443, "0.0.0.0/0", "")}, "IpPermissionsEgress": egressAll},
			m{"GroupId": "sg-0app00000000000", "VpcId": vpc, "IpPermissions": l{perm(8080, "", "sg-0web00000000000")}, "IpPermissionsEgress": egressAll},
			m{"GroupId": "sg-0db000000000000", "VpcId": vpc, "IpPermissions": l{perm(5432, "", "sg-0app00000000000")}, "IpPermissionsEgress": egressAll},
		}},
		"nacls.json": m{"NetworkAcls": l{
			m{"NetworkAclId": "acl-0open0000000000", "VpcId": vpc, "IsDefault": true, "Associations": assocOpen,
				"Entries": l{all(false, "allow", 100), all(true, "allow", 100), all(false, "deny", 32767), all(true, "deny", 32767)}},
			m{"NetworkAclId": "acl-0strict00000000", "VpcId": vpc, "IsDefault": false, "Associations": assocStrict,
				"Entries": l{tcp(false, 100, 5432, 5432, "10.0.0.0/16"), tcp(false, 110, 1024, 65535, "0.0.0.0/0"),
					tcp(true, 100, 1024, 32767, "10.0.0.0/16"), all(false, "deny", 32767), all(true, "deny", 32767)}},
		}},
		"routes.json": m{"RouteTables": l{m{"RouteTableId": "rtb-0main000000000", "VpcId": vpc,
			"Associations": l{m{"Main": true}},
			"Routes": l{m{"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "State": "active"},
				m{"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-0gen000000000", "State": "active"}}}}},
	}
	out := map[string][]byte{}
	for name, v := range files {
		b, err := json.MarshalIndent(v, "", " ")
		if err != nil {
			panic(err) // maps of plain values always marshal
		}
		out[name] = b
	}
	return out
}

// GenerateFlowLog writes cfg.Records default-format records over the
// configuration of GenerateConfig: accepted conversations (request and
// reply on both interfaces), replies of database servers rejected by their
// network ACL, requests rejected by security groups (some retried from
// another port), requests of database servers rejected by their own
// subnet's network ACL, internet scans, and records of interfaces the
// export lacks.
func GenerateFlowLog(w io.Writer, cfg GenConfig) error {
	cfg.Interfaces = cfg.interfaces()
	ifs := genIfaces(cfg.Interfaces)
	byTier := map[string][]genIface{}
	for _, f := range ifs {
		byTier[f.tier] = append(byTier[f.tier], f)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	bw := bufio.NewWriterSize(w, 1<<20)
	var buf []byte
	n := 0
	emit := func(iface, src, dst string, sp, dp, proto int, accept bool) {
		if n >= cfg.Records {
			return
		}
		t := cfg.Start + int64(n)*3600/int64(max(cfg.Records, 1))
		buf = append(buf[:0], "2 123456789012 "...)
		buf = append(buf, iface...)
		buf = append(buf, ' ')
		buf = append(buf, src...)
		buf = append(buf, ' ')
		buf = append(buf, dst...)
		for _, v := range []int{sp, dp, proto, 1 + rng.IntN(40), 60 + rng.IntN(50000)} {
			buf = append(buf, ' ')
			buf = strconv.AppendInt(buf, int64(v), 10)
		}
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, t, 10)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, t+60, 10)
		if accept {
			buf = append(buf, " ACCEPT OK\n"...)
		} else {
			buf = append(buf, " REJECT OK\n"...)
		}
		bw.Write(buf)
		n++
	}
	pick := func(t string) genIface { s := byTier[t]; return s[rng.IntN(len(s))] }
	// A conversation: the request and reply, logged on both interfaces;
	// a strict server rejects replies to ports above 32767.
	conv := func(c, s genIface, port int) {
		eph := 32768 + rng.IntN(60999-32768+1)
		if rng.IntN(2) == 0 {
			eph = 1024 + rng.IntN(32767-1024+1)
		}
		emit(c.id, c.addr, s.addr, eph, port, 6, true)
		emit(s.id, c.addr, s.addr, eph, port, 6, true)
		replyOK := !s.strict || eph <= 32767
		emit(s.id, s.addr, c.addr, port, eph, 6, replyOK)
		if replyOK {
			emit(c.id, s.addr, c.addr, port, eph, 6, true)
		}
	}
	for n < cfg.Records {
		switch r := rng.IntN(100); {
		case r < 45:
			conv(pick("web"), pick("app"), 8080)
		case r < 80:
			conv(pick("app"), pick("db"), 5432)
		case r < 88: // web to database: the database group does not allow it
			c, s := pick("web"), pick("db")
			for try := 0; try == 0 || try == 1 && rng.IntN(2) == 0; try++ { // half the clients retry from another port
				eph := 32768 + rng.IntN(28232)
				emit(c.id, c.addr, s.addr, eph, 5432, 6, true)
				emit(s.id, c.addr, s.addr, eph, 5432, 6, false)
			}
		case r < 90: // database to a web server's HTTPS: the database subnets' ACL has no outbound rule for it
			c, s := pick("db"), pick("web")
			emit(c.id, c.addr, s.addr, 32768+rng.IntN(28232), 443, 6, false)
		case r < 96: // internet scans
			s := ifs[rng.IntN(len(ifs))]
			src := fmt.Sprintf("%d.%d.%d.%d", 11+rng.IntN(180), rng.IntN(256), rng.IntN(256), 1+rng.IntN(254))
			emit(s.id, src, s.addr, 1024+rng.IntN(64000), []int{22, 23, 3389, 445}[rng.IntN(4)], 6, false)
		default: // an interface created after the export
			emit(fmt.Sprintf("eni-%017x", 0xff0000+rng.IntN(20)), "10.0.250.7", pick("web").addr, 40000+rng.IntN(1000), 22, 6, false)
		}
	}
	return bw.Flush()
}
