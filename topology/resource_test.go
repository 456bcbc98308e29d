package topology

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestParseResource(t *testing.T) {
	tests := []struct {
		in      string
		want    Resource
		wantErr string
	}{
		{in: "subnet:web-a", want: Resource{ResourceSubnet, "web-a"}},
		{in: "zone:zone-a", want: Resource{ResourceZone, "zone-a"}},
		{in: "network:net-prod", want: Resource{ResourceNetwork, "net-prod"}},
		{in: "region:eu-west", want: Resource{ResourceRegion, "eu-west"}},
		{in: "service:objstore", want: Resource{ResourceService, "objstore"}},
		{in: "host-group:frontends", want: Resource{ResourceHostGroup, "frontends"}},
		{in: "host_group:frontends", want: Resource{ResourceHostGroup, "frontends"}},
		{in: "vpc:vpc-0abc", want: Resource{ResourceNetwork, "vpc-0abc"}},
		{in: "az:eu-west-1a", want: Resource{ResourceZone, "eu-west-1a"}},
		{in: "internet", want: Resource{Kind: ResourceInternet}},
		{in: " internet ", want: Resource{Kind: ResourceInternet}},
		{in: "internet:x", wantErr: "internet takes no id"},
		{in: "web-a", wantErr: "want kind:id"},
		{in: "cluster:x", wantErr: `unknown kind "cluster"`},
		{in: "subnet:", wantErr: `invalid id ""`},
		{in: "subnet:a b", wantErr: `invalid id "a b"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseResource(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseResource = %v, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseResource = %v, %v; want %v", got, err, tt.want)
			}
			back, err := ParseResource(got.String())
			if err != nil || back != got {
				t.Errorf("round trip of %q: %v, %v", got.String(), back, err)
			}
		})
	}
}

func TestResourceText(t *testing.T) {
	var r Resource
	if err := r.UnmarshalText([]byte("zone:zone-b")); err != nil || r != (Resource{ResourceZone, "zone-b"}) {
		t.Fatalf("UnmarshalText = %v, %v", r, err)
	}
	if b, _ := r.MarshalText(); string(b) != "zone:zone-b" {
		t.Errorf("MarshalText = %s", b)
	}
	if err := r.UnmarshalText([]byte("bogus")); err == nil {
		t.Error("UnmarshalText accepted bogus")
	}
}

func TestResolve(t *testing.T) {
	topo := loadExample(t)
	for _, s := range []string{"subnet:web-a", "zone:zone-c", "network:net-us", "region:us-east",
		"service:db-service", "host-group:backends", "internet"} {
		if err := topo.Resolve(mustResource(t, s)); err != nil {
			t.Errorf("Resolve(%s) = %v", s, err)
		}
	}
	err := topo.Resolve(Resource{ResourceZone, "zone-x"})
	if !errors.Is(err, ErrUnknownResource) {
		t.Fatalf("Resolve(zone:zone-x) = %v, want ErrUnknownResource", err)
	}
	const want = `unknown resource: no zone "zone-x" in the topology (known zones: zone-a, zone-b, zone-c)`
	if err.Error() != want {
		t.Errorf("error = %q\nwant    %q", err, want)
	}
	err = Empty().Resolve(Resource{ResourceHostGroup, "g"})
	if !errors.Is(err, ErrUnknownResource) || !strings.Contains(err.Error(), "no host groups are declared") {
		t.Errorf("Resolve on empty = %v", err)
	}
	if err := topo.Resolve(Resource{Kind: "vpc", ID: "x"}); err == nil || errors.Is(err, ErrUnknownResource) {
		t.Errorf("Resolve with an alias kind = %v, want a kind error", err)
	}
}

func mustResource(t *testing.T, s string) Resource {
	t.Helper()
	r, err := ParseResource(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMatches(t *testing.T) {
	topo := loadExample(t)
	webA := topo.Lookup(mustAddr("10.1.1.10")) // web-a, frontends
	appC := topo.Lookup(mustAddr("10.2.2.1"))
	obj := topo.Lookup(mustAddr("198.51.100.1"))
	inet := topo.Lookup(mustAddr("8.8.8.8"))
	unknown := topo.Lookup(mustAddr("10.99.0.1"))
	tests := []struct {
		resource string
		loc      Location
		want     bool
	}{
		{"subnet:web-a", webA, true},
		{"subnet:web-a", appC, false},
		{"zone:zone-a", webA, true},
		{"zone:zone-c", appC, true},
		{"network:net-prod", webA, true},
		{"network:net-prod", appC, false},
		{"region:eu-west", webA, true},
		{"region:us-east", appC, true},
		{"service:objstore", obj, true},
		{"service:objstore", webA, false},
		{"host-group:frontends", webA, true},
		{"host-group:frontends", appC, false},
		{"internet", inet, true},
		{"internet", obj, false},
		{"internet", unknown, false},
		{"region:eu-west", unknown, false},
	}
	for _, tt := range tests {
		if got := mustResource(t, tt.resource).Matches(tt.loc); got != tt.want {
			t.Errorf("%s.Matches(%+v) = %v, want %v", tt.resource, tt.loc, got, tt.want)
		}
	}
	if (Resource{Kind: ResourceRegion}).Matches(unknown) {
		t.Error("a resource without id matched a location without region")
	}
}
