package topology

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// The AWS import maps:
//
//   - an availability zone to a zone: id = the AZ name ("eu-west-1a"), as the
//     console shows it; name = the AZ ID ("euw1-az1"), the account-independent
//     identity that flow logs report as az-id;
//   - a region to a region, its id taken from the AZ name (eu-west-1a ->
//     eu-west-1; local zones such as us-west-2-lax-1a -> us-west-2);
//   - a VPC to a network (id = VPC id, name = its Name tag), in the region
//     of its subnets. VPCs without subnets are left out: they hold no
//     addresses and their region cannot be known from describe-vpcs;
//   - a subnet to a subnet (id = subnet id, name = its Name tag) with its
//     IPv4 block and its associated IPv6 blocks;
//   - each service of ip-ranges.json to a service named after it in lower
//     kebab case ("S3" -> "s3", "ROUTE53_HEALTHCHECKS" ->
//     "route53-healthchecks"), with its prefixes in every region: traffic to
//     S3 in another region is still service traffic. AMAZON is skipped
//     because it is the superset of all the others (it would swallow plain
//     EC2 instances too), and EC2 because its ranges are instances' public
//     addresses, not a service endpoint: traffic to them is internet
//     traffic. When one prefix is listed under several services, S3 and
//     DynamoDB (the services the cloud's flow monitor names) keep it first,
//     then the services in alphabetical order.
var (
	awsSkippedServices   = map[string]bool{"AMAZON": true, "EC2": true}
	awsPreferredServices = []string{"S3", "DYNAMODB"}
	awsRegionOfAZ        = regexp.MustCompile(`^[a-z]{2}(?:-[a-z]+)+-\d+`)
)

type awsTag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type awsVPCs struct {
	Vpcs []struct {
		VpcID string   `json:"VpcId"`
		Tags  []awsTag `json:"Tags"`
	} `json:"Vpcs"`
}

type awsSubnets struct {
	Subnets []awsSubnet `json:"Subnets"`
}

type awsSubnet struct {
	SubnetID           string `json:"SubnetId"`
	VpcID              string `json:"VpcId"`
	AvailabilityZone   string `json:"AvailabilityZone"`
	AvailabilityZoneID string `json:"AvailabilityZoneId"`
	CidrBlock          string `json:"CidrBlock"`
	Ipv6               []struct {
		Ipv6CidrBlock string `json:"Ipv6CidrBlock"`
		State         struct {
			State string `json:"State"`
		} `json:"Ipv6CidrBlockState"`
	} `json:"Ipv6CidrBlockAssociationSet"`
	Tags []awsTag `json:"Tags"`
}

type awsIPRanges struct {
	Prefixes []struct {
		IPPrefix string `json:"ip_prefix"`
		Service  string `json:"service"`
	} `json:"prefixes"`
	IPv6Prefixes []struct {
		IPv6Prefix string `json:"ipv6_prefix"`
		Service    string `json:"service"`
	} `json:"ipv6_prefixes"`
}

// ImportAWS builds a topology from the JSON printed by `aws ec2
// describe-vpcs`, `aws ec2 describe-subnets` and AWS's ip-ranges.json. Any
// input may be nil. The mapping is described above.
//
// Malformed JSON or CIDRs give a plain error and no topology. Data that
// parse but do not make a valid topology (most often VPCs with overlapping
// ranges: every default VPC is 172.31.0.0/16) give the topology together
// with a *CheckError, so that a CLI can still print it for the user to
// trim; lookups in the overlapping ranges then pick one of the subnets.
func ImportAWS(vpcsJSON, subnetsJSON, ipRangesJSON []byte) (*Topology, error) {
	var vpcs awsVPCs
	var subnets awsSubnets
	var ranges awsIPRanges
	for _, in := range []struct {
		name string
		data []byte
		into any
	}{{"describe-vpcs", vpcsJSON, &vpcs}, {"describe-subnets", subnetsJSON, &subnets}, {"ip-ranges", ipRangesJSON, &ranges}} {
		if len(bytes.TrimSpace(in.data)) == 0 {
			continue
		}
		if err := json.Unmarshal(in.data, in.into); err != nil {
			return nil, fmt.Errorf("import AWS: %s JSON: %w", in.name, err)
		}
	}
	t := &Topology{}
	if err := t.importSubnets(vpcs, subnets); err != nil {
		return nil, fmt.Errorf("import AWS: %w", err)
	}
	if err := t.importServices(ranges); err != nil {
		return nil, fmt.Errorf("import AWS: ip-ranges: %w", err)
	}
	r := newReport(nestedOrigin(t))
	check(t, r)
	t.build()
	if err := r.err(); err != nil {
		return t, err
	}
	return t, nil
}

// importSubnets fills regions, zones, networks and subnets, sorted so that
// the output does not depend on the order AWS listed them in.
func (t *Topology) importSubnets(vpcs awsVPCs, subnets awsSubnets) error {
	vpcName := map[string]string{}
	for _, v := range vpcs.Vpcs {
		vpcName[v.VpcID] = tagName(v.Tags)
	}
	regions := map[string]bool{}
	zones := map[string]Zone{}
	networks := map[string]Network{}
	for _, s := range subnets.Subnets {
		region := regionOfAZ(s.AvailabilityZone)
		if s.AvailabilityZone != "" {
			regions[region] = true
			zones[s.AvailabilityZone] = Zone{ID: s.AvailabilityZone, Name: s.AvailabilityZoneID, Region: region}
		}
		if _, ok := networks[s.VpcID]; !ok {
			networks[s.VpcID] = Network{ID: s.VpcID, Name: vpcName[s.VpcID], Region: region}
		}
		cidrs, err := subnetCIDRs(s)
		if err != nil {
			return fmt.Errorf("subnet %s: %w", s.SubnetID, err)
		}
		t.Subnets = append(t.Subnets, Subnet{ID: s.SubnetID, Name: tagName(s.Tags), Network: s.VpcID,
			Zone: s.AvailabilityZone, Region: networks[s.VpcID].Region, CIDRs: cidrs})
	}
	for id := range regions {
		t.Regions = append(t.Regions, Region{ID: id})
	}
	slices.SortFunc(t.Regions, func(a, b Region) int { return cmp.Compare(a.ID, b.ID) })
	for _, z := range zones {
		t.Zones = append(t.Zones, z)
	}
	slices.SortFunc(t.Zones, func(a, b Zone) int { return cmp.Or(cmp.Compare(a.Region, b.Region), cmp.Compare(a.ID, b.ID)) })
	for _, n := range networks {
		t.Networks = append(t.Networks, n)
	}
	slices.SortFunc(t.Networks, func(a, b Network) int {
		return cmp.Or(cmp.Compare(a.Region, b.Region), cmp.Compare(a.ID, b.ID))
	})
	order := map[string]int{}
	for i, n := range t.Networks {
		order[n.ID] = i
	}
	slices.SortFunc(t.Subnets, func(a, b Subnet) int {
		return cmp.Or(cmp.Compare(order[a.Network], order[b.Network]), firstCIDR(a).Compare(firstCIDR(b)),
			cmp.Compare(a.ID, b.ID))
	})
	return nil
}

// subnetCIDRs is a subnet's IPv4 block and its IPv6 blocks that are (being)
// associated; disassociated blocks no longer route to it.
func subnetCIDRs(s awsSubnet) ([]netip.Prefix, error) {
	var out []netip.Prefix
	blocks := []string{s.CidrBlock}
	for _, a := range s.Ipv6 {
		switch a.State.State {
		case "disassociating", "disassociated", "failing", "failed":
			continue
		}
		blocks = append(blocks, a.Ipv6CidrBlock)
	}
	for _, b := range blocks {
		if b == "" {
			continue
		}
		p, err := parseCIDR(b)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// importServices turns ip-ranges.json into services, one per AWS service,
// each prefix in one service only.
func (t *Topology) importServices(ranges awsIPRanges) error {
	byService := map[string][]netip.Prefix{}
	add := func(service, cidr string) error {
		if awsSkippedServices[service] {
			return nil
		}
		p, err := parseCIDR(cidr)
		if err != nil {
			return fmt.Errorf("service %s: %w", service, err)
		}
		byService[service] = append(byService[service], p)
		return nil
	}
	for _, p := range ranges.Prefixes {
		if err := add(p.Service, p.IPPrefix); err != nil {
			return err
		}
	}
	for _, p := range ranges.IPv6Prefixes {
		if err := add(p.Service, p.IPv6Prefix); err != nil {
			return err
		}
	}
	claimed := map[netip.Prefix]bool{}
	for _, name := range servicePriority(byService) {
		var cidrs []netip.Prefix
		for _, p := range byService[name] {
			if !claimed[p] {
				claimed[p] = true
				cidrs = append(cidrs, p)
			}
		}
		if len(cidrs) == 0 {
			continue
		}
		slices.SortFunc(cidrs, netip.Prefix.Compare)
		t.Services = append(t.Services, Service{ID: awsServiceID(name), Name: name, CIDRs: cidrs})
	}
	slices.SortFunc(t.Services, func(a, b Service) int { return cmp.Compare(a.ID, b.ID) })
	return nil
}

// servicePriority orders the services for claiming shared prefixes: the
// preferred ones first, then alphabetical.
func servicePriority(byService map[string][]netip.Prefix) []string {
	var rest []string
	for name := range byService {
		if !slices.Contains(awsPreferredServices, name) {
			rest = append(rest, name)
		}
	}
	slices.Sort(rest)
	var out []string
	for _, name := range awsPreferredServices {
		if _, ok := byService[name]; ok {
			out = append(out, name)
		}
	}
	return append(out, rest...)
}

// awsServiceID turns "ROUTE53_HEALTHCHECKS" into "route53-healthchecks".
func awsServiceID(service string) string {
	return strings.ToLower(strings.ReplaceAll(service, "_", "-"))
}

// regionOfAZ finds an AZ's region: eu-west-1a -> eu-west-1, and local or
// wavelength zones (us-west-2-lax-1a) -> their parent region.
func regionOfAZ(az string) string {
	if r := awsRegionOfAZ.FindString(az); r != "" {
		return r
	}
	if n := len(az); n > 1 && az[n-1] >= 'a' && az[n-1] <= 'z' {
		return az[:n-1]
	}
	return az
}

// tagName is the value of the Name tag, which the console shows.
func tagName(tags []awsTag) string {
	for _, t := range tags {
		if t.Key == "Name" {
			return t.Value
		}
	}
	return ""
}

// firstCIDR orders subnets by address (IPv4 before IPv6).
func firstCIDR(s Subnet) netip.Prefix {
	if len(s.CIDRs) == 0 {
		return netip.Prefix{}
	}
	return s.CIDRs[0]
}

// nestedOrigin gives the field paths of zones and subnets as WriteYAML nests
// them, so that problems in an imported topology point into its printout.
func nestedOrigin(t *Topology) *origin {
	o := &origin{pos: map[string]pos{}}
	o.zones = make([]string, len(t.Zones))
	for ri, r := range t.Regions {
		k := 0
		for zi, z := range t.Zones {
			if z.Region == r.ID && o.zones[zi] == "" {
				o.zones[zi] = fmt.Sprintf("regions[%d].zones[%d]", ri, k)
				k++
			}
		}
	}
	o.subnets = make([]string, len(t.Subnets))
	for ni, n := range t.Networks {
		k := 0
		for si, s := range t.Subnets {
			if s.Network == n.ID && o.subnets[si] == "" {
				o.subnets[si] = fmt.Sprintf("networks[%d].subnets[%d]", ni, k)
				k++
			}
		}
	}
	return o
}
