package topology

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func readAWS(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "aws", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestImportAWSGolden imports the sample describe-vpcs, describe-subnets and
// ip-ranges.json output, pins the YAML it prints, and reads that YAML back.
func TestImportAWSGolden(t *testing.T) {
	topo, err := ImportAWS(readAWS(t, "vpcs.json"), readAWS(t, "subnets.json"), readAWS(t, "ip-ranges.json"))
	if err != nil {
		t.Fatalf("ImportAWS: %v", err)
	}
	var out bytes.Buffer
	if err := topo.WriteYAML(&out); err != nil {
		t.Fatal(err)
	}
	golden(t, "aws-import.golden", out.Bytes())

	back, err := Parse(out.Bytes(), "aws-import.golden")
	if err != nil {
		t.Fatalf("Parse of the printed import: %v", err)
	}
	assertSame(t, back, topo)

	for addr, want := range map[string]Location{
		"10.0.2.9":                {Kind: KindSubnet, Subnet: "subnet-0fedcba9876543210", Network: "vpc-0a1b2c3d4e5f67890", Zone: "eu-west-1b", Region: "eu-west-1"},
		"2a05:d018:1a2b:c300::10": {Kind: KindSubnet, Subnet: "subnet-01234567890abcdef", Network: "vpc-0a1b2c3d4e5f67890", Zone: "eu-west-1a", Region: "eu-west-1"},
		"2a05:d018:1a2b:c3ff::10": {Kind: KindInternet}, // disassociated block
		"52.218.10.1":             {Kind: KindService, Service: "s3"},
		"52.92.41.1":              {Kind: KindService, Service: "s3"}, // also listed as API_GATEWAY
		"52.94.24.1":              {Kind: KindService, Service: "dynamodb"},
		"176.34.159.193":          {Kind: KindService, Service: "route53-healthchecks"},
		"3.248.1.1":               {Kind: KindInternet}, // EC2: instances, not a service
		"2a05:d07a:a000::1":       {Kind: KindService, Service: "s3"},
		"::ffff:172.31.40.1":      {Kind: KindSubnet, Subnet: "subnet-0d4c3b2a1f0e9d8c7", Network: "vpc-0fedcba9876543210", Zone: "eu-west-1b", Region: "eu-west-1"},
	} {
		if got := topo.Lookup(mustAddr(addr)); got != want {
			t.Errorf("Lookup(%s) = %+v, want %+v", addr, got, want)
		}
	}
}

// assertSame compares the exported content of two topologies.
func assertSame(t *testing.T, got, want *Topology) {
	t.Helper()
	g, w := *got, *want
	g.idx, w.idx = index{}, index{}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("topologies differ:\n got %+v\nwant %+v", g, w)
	}
}

func TestImportAWSPartialInputs(t *testing.T) {
	empty, err := ImportAWS(nil, nil, nil)
	if err != nil || len(empty.Regions)+len(empty.Subnets)+len(empty.Services) != 0 {
		t.Fatalf("ImportAWS(nil, nil, nil) = %+v, %v", empty, err)
	}
	if got := empty.Lookup(mustAddr("1.1.1.1")); got.Kind != KindInternet {
		t.Errorf("empty import: 1.1.1.1 is %v", got.Kind)
	}

	services, err := ImportAWS(nil, nil, readAWS(t, "ip-ranges.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range services.Services {
		ids = append(ids, s.ID)
	}
	want := "api-gateway cloudfront-origin-facing dynamodb route53-healthchecks s3"
	if strings.Join(ids, " ") != want {
		t.Errorf("services = %v, want %s", ids, want)
	}

	// Subnets without describe-vpcs: networks are made up from VpcId, unnamed.
	noVPCs, err := ImportAWS(nil, readAWS(t, "subnets.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(noVPCs.Networks) != 2 || noVPCs.Networks[0].Name != "" || len(noVPCs.Subnets) != 5 {
		t.Errorf("networks = %+v, %d subnets", noVPCs.Networks, len(noVPCs.Subnets))
	}
	// VPCs alone hold no addresses, and their region is unknown: left out.
	vpcsOnly, err := ImportAWS(readAWS(t, "vpcs.json"), nil, nil)
	if err != nil || len(vpcsOnly.Networks) != 0 {
		t.Errorf("vpcs only = %+v, %v", vpcsOnly.Networks, err)
	}
}

func TestImportAWSErrors(t *testing.T) {
	if _, err := ImportAWS([]byte("{"), nil, nil); err == nil || !strings.Contains(err.Error(), "describe-vpcs JSON") {
		t.Errorf("bad vpcs JSON: %v", err)
	}
	bad := []byte(`{"Subnets":[{"SubnetId":"subnet-1","VpcId":"vpc-1","AvailabilityZone":"eu-west-1a","CidrBlock":"10.0.0.1/24"}]}`)
	if _, err := ImportAWS(nil, bad, nil); err == nil || !strings.Contains(err.Error(), "subnet subnet-1") {
		t.Errorf("bad subnet CIDR: %v", err)
	}
	badRange := []byte(`{"prefixes":[{"ip_prefix":"nonsense","service":"S3"}]}`)
	if _, err := ImportAWS(nil, nil, badRange); err == nil || !strings.Contains(err.Error(), "service S3") {
		t.Errorf("bad ip-ranges prefix: %v", err)
	}
}

// TestImportAWSOverlap: two default VPCs from different accounts share
// 172.31.0.0/16. The import still returns the topology, with the problem.
func TestImportAWSOverlap(t *testing.T) {
	subnets := []byte(`{"Subnets":[
		{"SubnetId":"subnet-a","VpcId":"vpc-a","AvailabilityZone":"eu-west-1a","CidrBlock":"172.31.0.0/20"},
		{"SubnetId":"subnet-b","VpcId":"vpc-b","AvailabilityZone":"eu-west-1a","CidrBlock":"172.31.0.0/20"}]}`)
	topo, err := ImportAWS(nil, subnets, nil)
	var ce *CheckError
	if !errors.As(err, &ce) || topo == nil {
		t.Fatalf("ImportAWS = %v, %v; want a topology and a *CheckError", topo, err)
	}
	const want = `networks[1].subnets[0].cidrs[0]: 172.31.0.0/20 overlaps 172.31.0.0/20 of subnet "subnet-a" (networks[0].subnets[0].cidrs[0])`
	if len(ce.Problems) != 1 || ce.Problems[0].String() != want {
		t.Errorf("problems:\n%s\nwant:\n%s", ce, want)
	}
	if got := topo.Lookup(mustAddr("172.31.1.1")); got.Kind != KindSubnet {
		t.Errorf("lookup in the overlap: %+v", got)
	}
}

func TestRegionOfAZ(t *testing.T) {
	for az, want := range map[string]string{
		"eu-west-1a":       "eu-west-1",
		"us-east-1f":       "us-east-1",
		"ap-southeast-2c":  "ap-southeast-2",
		"us-gov-west-1a":   "us-gov-west-1",
		"us-west-2-lax-1a": "us-west-2",
		"cn-north-1b":      "cn-north-1",
		"lab-1a":           "lab-1",
		"":                 "",
	} {
		if got := regionOfAZ(az); got != want {
			t.Errorf("regionOfAZ(%q) = %q, want %q", az, got, want)
		}
	}
}
