package topology

import "testing"

func TestClassify(t *testing.T) {
	sub := func(region, network, zone string) Location {
		return Location{Kind: KindSubnet, Region: region, Network: network, Zone: zone, Subnet: "s"}
	}
	local := sub("eu-west", "net-prod", "zone-a")
	service := Location{Kind: KindService, Service: "objstore"}
	internet := Location{Kind: KindInternet}
	unknown := Location{Kind: KindUnknown}
	tests := []struct {
		name          string
		local, remote Location
		want          Category
	}{
		{"same zone", local, sub("eu-west", "net-prod", "zone-a"), CategoryIntraZone},
		{"other zone", local, sub("eu-west", "net-prod", "zone-b"), CategoryInterZone},
		{"other network", local, sub("eu-west", "net-dev", "zone-a"), CategoryInterNetwork},
		{"other network and zone", local, sub("eu-west", "net-dev", "zone-b"), CategoryInterNetwork},
		{"other region", local, sub("us-east", "net-us", "zone-c"), CategoryInterRegion},
		{"service", local, service, CategoryService},
		{"internet", local, internet, CategoryInternet},
		{"remote unknown", local, unknown, CategoryUnclassified},
		{"local unknown", unknown, sub("eu-west", "net-prod", "zone-a"), CategoryUnclassified},
		{"service wins over unknown local", unknown, service, CategoryService},
		{"internet wins over unknown local", unknown, internet, CategoryInternet},
		{"local is a public address", internet, sub("eu-west", "net-prod", "zone-a"), CategoryUnclassified},
		{"local is a service address", service, sub("eu-west", "net-prod", "zone-a"), CategoryUnclassified},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.local, tt.remote); got != tt.want {
				t.Errorf("Classify = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestClassifyExample classifies addresses of the example topology end to
// end, as ingest does.
func TestClassifyExample(t *testing.T) {
	topo := loadExample(t)
	for _, tt := range []struct {
		local, remote string
		want          Category
	}{
		{"10.1.1.5", "10.1.2.5", CategoryIntraZone},
		{"10.1.1.5", "10.1.12.5", CategoryInterZone},
		{"10.1.1.5", "10.2.1.5", CategoryInterRegion},
		{"10.1.1.5", "198.51.100.5", CategoryService},
		{"10.1.1.5", "203.0.113.5", CategoryInternet},
		{"10.1.1.5", "1.1.1.1", CategoryInternet},
		{"10.1.1.5", "10.200.0.1", CategoryUnclassified},
		{"2001:db8:1:1::5", "2001:db8:1:11::5", CategoryInterZone},
	} {
		got := Classify(topo.Lookup(mustAddr(tt.local)), topo.Lookup(mustAddr(tt.remote)))
		if got != tt.want {
			t.Errorf("%s -> %s: %v, want %v", tt.local, tt.remote, got, tt.want)
		}
	}
}
