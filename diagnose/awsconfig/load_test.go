package awsconfig

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadRecognisesFilesByTopLevelKey(t *testing.T) {
	cfg, err := Load("../testdata/base", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{
		"security groups": len(cfg.SecurityGroups), "network ACLs": len(cfg.NetworkACLs),
		"route tables": len(cfg.RouteTables), "interfaces": len(cfg.Interfaces), "subnets": len(cfg.Subnets),
		"VPCs": len(cfg.VPCs), "prefix lists": len(cfg.PrefixLists), "peerings": len(cfg.Peerings),
		"internet gateways": len(cfg.InternetGateways), "NAT gateways": len(cfg.NATGateways),
	}
	want := map[string]int{
		"security groups": 7, "network ACLs": 5, "route tables": 6, "interfaces": 8, "subnets": 6,
		"VPCs": 4, "prefix lists": 3, "peerings": 2, "internet gateways": 1, "NAT gateways": 1,
	}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%s: %d, want %d", k, counts[k], n)
		}
	}
	// Names do not matter: the same content under other names loads the same.
	dir := t.TempDir()
	ents, _ := os.ReadDir("../testdata/base")
	for i, e := range ents {
		data, _ := os.ReadFile(filepath.Join("../testdata/base", e.Name()))
		os.WriteFile(filepath.Join(dir, "out"+string(rune('a'+i))+".txt"), data, 0o644)
	}
	cfg2, err := Load(dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg2.Interfaces) != 8 || len(cfg2.SecurityGroups) != 7 {
		t.Errorf("renamed files: %d interfaces, %d groups", len(cfg2.Interfaces), len(cfg2.SecurityGroups))
	}
}

func TestLoadPrefixListsWithAndWithoutEntries(t *testing.T) {
	cfg, err := Load("../testdata/base", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	corp, s3 := cfg.PrefixLists["pl-0corp0000000000"], cfg.PrefixLists["pl-63a5400a"]
	if corp == nil || !corp.Known || len(corp.Entries) != 2 {
		t.Errorf("corp list: %+v, want known with 2 entries", corp)
	}
	if s3 == nil || s3.Known || !s3.OwnerAWS {
		t.Errorf("s3 list: %+v, want described, AWS-owned, entries unknown", s3)
	}
}

func TestLoadErrorsNameFileAndPath(t *testing.T) {
	cases := []struct {
		name, body, wantPath, wantMsg string
	}{
		{"bad-cidr.json", `{"SecurityGroups":[{"GroupId":"sg-1","IpPermissions":[{"IpProtocol":"tcp","FromPort":22,"ToPort":22,"IpRanges":[{"CidrIp":"10.0.0/8"}]}]}]}`,
			"$.SecurityGroups[0].IpPermissions[0].IpRanges[0].CidrIp", "not a CIDR block"},
		{"host-bits.json", `{"Subnets":[{"SubnetId":"subnet-1","CidrBlock":"10.0.1.1/24"}]}`, "$.Subnets[0].CidrBlock", "host bits"},
		{"bad-action.json", `{"NetworkAcls":[{"NetworkAclId":"acl-1","Entries":[{"RuleNumber":100,"Protocol":"6","RuleAction":"maybe","Egress":false,"CidrBlock":"0.0.0.0/0"}]}]}`,
			"$.NetworkAcls[0].Entries[0].RuleAction", "allow or deny"},
		{"dup-rule.json", `{"NetworkAcls":[{"NetworkAclId":"acl-1","Entries":[{"RuleNumber":100,"Protocol":"-1","RuleAction":"allow","Egress":false,"CidrBlock":"0.0.0.0/0"},{"RuleNumber":100,"Protocol":"-1","RuleAction":"deny","Egress":false,"CidrBlock":"0.0.0.0/0"}]}]}`,
			"$.NetworkAcls[0].Entries[1].RuleNumber", "twice"},
		{"bad-proto.json", `{"SecurityGroups":[{"GroupId":"sg-1","IpPermissions":[{"IpProtocol":"tcpp"}]}]}`,
			"$.SecurityGroups[0].IpPermissions[0].IpProtocol", "not a protocol"},
		{"bad-ports.json", `{"SecurityGroups":[{"GroupId":"sg-1","IpPermissions":[{"IpProtocol":"tcp","FromPort":80,"ToPort":22}]}]}`,
			"$.SecurityGroups[0].IpPermissions[0].FromPort", "not within"},
		{"type.json", `{"NetworkAcls":[{"NetworkAclId":"acl-1","Entries":[{"RuleNumber":"100"}]}]}`,
			"$.NetworkAcls[0].Entries[0].RuleNumber", "string where int"},
		{"type-later.json", `{"SecurityGroups":[{"GroupId":"sg-1"},{"GroupId":"sg-2","IpPermissions":[{"IpProtocol":"tcp"},{"IpProtocol":"udp","FromPort":"53"}]}]}`,
			"$.SecurityGroups[1].IpPermissions[1].FromPort", "string where int"},
		{"syntax.json", "{\"Vpcs\": [\n{\"VpcId\": }]}", "", "line 2"},
		{"unknown.json", `{"Reservations": []}`, "$", "no known top-level key"},
		{"route-state.json", `{"RouteTables":[{"RouteTableId":"rtb-1","Routes":[{"DestinationCidrBlock":"0.0.0.0/0","GatewayId":"igw-1","State":"sideways"}]}]}`,
			"$.RouteTables[0].Routes[0].State", "active or blackhole"},
		{"no-id.json", `{"NetworkInterfaces":[{"SubnetId":"subnet-1"}]}`, "$.NetworkInterfaces[0].NetworkInterfaceId", "missing"},
		{"entries-no-id.json", `{"Entries":[{"Cidr":"10.0.0.0/8"}]}`, "$.PrefixListId", "missing"},
		{"bad-addr.json", `{"NetworkInterfaces":[{"NetworkInterfaceId":"eni-1","PrivateIpAddress":"10.0.0.300"}]}`,
			"$.NetworkInterfaces[0].PrivateIpAddress", "not an IP address"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{c.name: c.body})
			_, err := Load(dir, Limits{})
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want an *Error", err)
			}
			if !strings.HasSuffix(e.File, c.name) || e.Path != c.wantPath || !strings.Contains(e.Msg, c.wantMsg) {
				t.Errorf("got file %q path %q msg %q, want file %s path %q msg containing %q", e.File, e.Path, e.Msg, c.name, c.wantPath, c.wantMsg)
			}
		})
	}
}

func TestLoadRefusesContradictions(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"two network ACLs for a subnet", map[string]string{
			"a.json": `{"NetworkAcls":[{"NetworkAclId":"acl-1","Associations":[{"SubnetId":"subnet-1"}]},{"NetworkAclId":"acl-2","Associations":[{"SubnetId":"subnet-1"}]}]}`},
			"subnet-1 is associated with acl-1 and acl-2"},
		{"two main route tables", map[string]string{
			"a.json": `{"RouteTables":[{"RouteTableId":"rtb-1","VpcId":"vpc-1","Associations":[{"Main":true}]},{"RouteTableId":"rtb-2","VpcId":"vpc-1","Associations":[{"Main":true}]}]}`},
			"two main route tables"},
		{"an id defined twice differently", map[string]string{
			"a.json": `{"Vpcs":[{"VpcId":"vpc-1","CidrBlock":"10.0.0.0/16"}]}`,
			"b.json": `{"Vpcs":[{"VpcId":"vpc-1","CidrBlock":"10.1.0.0/16"}]}`},
			"defined twice"},
		{"an address on two interfaces", map[string]string{
			"a.json": `{"NetworkInterfaces":[{"NetworkInterfaceId":"eni-1","PrivateIpAddress":"10.0.0.1"},{"NetworkInterfaceId":"eni-2","PrivateIpAddress":"10.0.0.1"}]}`},
			"belongs to both"},
		{"interface and subnet in different VPCs", map[string]string{
			"a.json": `{"Subnets":[{"SubnetId":"subnet-1","VpcId":"vpc-1","CidrBlock":"10.0.0.0/24"}]}`,
			"b.json": `{"NetworkInterfaces":[{"NetworkInterfaceId":"eni-1","SubnetId":"subnet-1","VpcId":"vpc-2"}]}`},
			"is in vpc-2 but its subnet"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(writeFiles(t, c.files), Limits{})
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one containing %q", err, c.want)
			}
		})
	}
	// The same output saved twice is not a contradiction.
	same := `{"Vpcs":[{"VpcId":"vpc-1","CidrBlock":"10.0.0.0/16"}]}`
	if _, err := Load(writeFiles(t, map[string]string{"a.json": same, "b.json": same}), Limits{}); err != nil {
		t.Errorf("identical duplicate: %v", err)
	}
}

func TestLoadEnforcesLimits(t *testing.T) {
	big := `{"Vpcs":[{"VpcId":"vpc-1","CidrBlock":"10.0.0.0/16"}]}`
	_, err := Load(writeFiles(t, map[string]string{"a.json": big}), Limits{MaxFileBytes: 10})
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "a.json") {
		t.Errorf("file over the size limit: %v", err)
	}
	_, err = Load(writeFiles(t, map[string]string{"a.json": big, "b.json": big}), Limits{MaxFiles: 1})
	if !errors.Is(err, ErrLimit) {
		t.Errorf("too many files: %v", err)
	}
}

func FuzzLoad(f *testing.F) {
	ents, _ := os.ReadDir("../testdata/base")
	for _, e := range ents {
		data, _ := os.ReadFile(filepath.Join("../testdata/base", e.Name()))
		f.Add(data)
	}
	f.Add([]byte(`{"Entries":[{"Cidr":"::/0"}],"PrefixListId":"pl-1"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b := NewBuilder()
		if err := b.Add("fuzz.json", data); err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error without ErrInvalid: %v", err)
			}
			return
		}
		if _, err := b.Finish(); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("finish: %v", err)
		}
	})
}
