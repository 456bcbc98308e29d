// Package topology models the user's network (regions, zones, networks,
// subnets, named services, host groups), resolves any IP address to its place
// in it, and classifies a flow into a traffic category.
package topology

import "fmt"

// Category is a flow's traffic category; first match wins in the order below.
type Category uint8

const (
	CategoryUnclassified Category = iota
	CategoryService
	CategoryInternet
	CategoryInterRegion
	CategoryInterNetwork
	CategoryInterZone
	CategoryIntraZone
)

// Categories lists every category in match order, then unclassified.
var Categories = []Category{CategoryService, CategoryInternet, CategoryInterRegion,
	CategoryInterNetwork, CategoryInterZone, CategoryIntraZone, CategoryUnclassified}

var categoryNames = [...]string{"unclassified", "service", "internet", "inter-region",
	"inter-network", "inter-zone", "intra-zone"}

func (c Category) String() string {
	if int(c) < len(categoryNames) {
		return categoryNames[c]
	}
	return fmt.Sprintf("category(%d)", c)
}

// ParseCategory accepts the kebab-case names ("inter-zone") and, for users
// coming from the cloud console, the upper-case ones ("INTER_AZ").
func ParseCategory(s string) (Category, error) {
	for i, n := range categoryNames {
		if s == n {
			return Category(i), nil
		}
	}
	switch s {
	case "INTRA_AZ":
		return CategoryIntraZone, nil
	case "INTER_AZ":
		return CategoryInterZone, nil
	case "INTER_VPC":
		return CategoryInterNetwork, nil
	case "INTER_REGION":
		return CategoryInterRegion, nil
	case "INTERNET":
		return CategoryInternet, nil
	case "AWS_SERVICE", "AMAZON_S3", "AMAZON_DYNAMODB":
		return CategoryService, nil
	case "UNCLASSIFIED":
		return CategoryUnclassified, nil
	}
	return 0, fmt.Errorf("unknown category %q (want one of service, internet, inter-region, inter-network, inter-zone, intra-zone, unclassified)", s)
}

// Kind says what an address resolved to.
type Kind uint8

const (
	KindUnknown  Kind = iota // private address outside every declared subnet
	KindSubnet               // inside a declared subnet
	KindService              // inside a named service's prefixes
	KindInternet             // a public address outside the topology
)

var kindNames = [...]string{"unknown", "subnet", "service", "internet"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Location is where one address sits. Empty strings mean "not known".
type Location struct {
	Kind      Kind   `json:"kind"`
	Region    string `json:"region,omitempty"`
	Zone      string `json:"zone,omitempty"`
	Network   string `json:"network,omitempty"`
	Subnet    string `json:"subnet,omitempty"`
	Service   string `json:"service,omitempty"`
	HostGroup string `json:"host_group,omitempty"`
	// Internet endpoints, when a GeoIP/ASN database is configured.
	ASN     uint32 `json:"asn,omitempty"`
	ASOrg   string `json:"as_org,omitempty"`
	City    string `json:"city,omitempty"`
	Country string `json:"country,omitempty"`
	// Attrs are what enrichment providers added (see package enrich).
	Attrs Attrs `json:"attrs,omitzero"`
}

// MarshalText makes kinds readable in JSON.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// MarshalText makes categories readable in JSON.
func (c Category) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText accepts what ParseCategory accepts.
func (c *Category) UnmarshalText(b []byte) error {
	v, err := ParseCategory(string(b))
	*c = v
	return err
}

// UnmarshalText is the inverse of MarshalText.
func (k *Kind) UnmarshalText(b []byte) error {
	for i, n := range kindNames {
		if string(b) == n {
			*k = Kind(i)
			return nil
		}
	}
	return fmt.Errorf("unknown kind %q", b)
}
