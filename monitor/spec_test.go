package monitor

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/examples"
	"github.com/flowlens/flowlens/topology"
)

func TestSpecValidation(t *testing.T) {
	topo, err := topology.Parse(examples.Topology, examples.TopologyName)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, period  string
		local, remote []string
		wantErr       string // substring; "" = valid
	}{
		{"ok", "10s", []string{"subnet:web-a", "zone:zone-a"}, []string{"zone:zone-b", "service:objstore"}, ""},
		{"everywhere", "", []string{"host-group:frontends"}, nil, ""},
		{"internet", "5m", []string{"region:eu-west"}, []string{"internet"}, ""},
		{"aliases.ok_1", "1m", []string{"vpc:net-prod", "az:zone-b"}, []string{"everywhere"}, ""},
		{"bad name!", "", []string{"subnet:web-a"}, nil, "name"},
		{strings.Repeat("x", 256), "", []string{"subnet:web-a"}, nil, "name"},
		{"", "", []string{"subnet:web-a"}, nil, "name"},
		{"short", "5s", []string{"subnet:web-a"}, nil, "period 5s: want 10s"},
		{"frac", "10.5s", []string{"subnet:web-a"}, nil, "whole seconds"},
		{"long", "2h", []string{"subnet:web-a"}, nil, "period"},
		{"badperiod", "soon", []string{"subnet:web-a"}, nil, "period \"soon\""},
		{"nolocal", "", nil, nil, "at least one local"},
		{"svc-local", "", []string{"service:objstore"}, nil, "a local resource is"},
		{"inet-local", "", []string{"internet"}, nil, "a local resource is"},
		{"unknown", "", []string{"subnet:web-z"}, nil, `no subnet "web-z"`},
		{"unknown-remote", "", []string{"subnet:web-a"}, []string{"service:nope"}, `remote[0]`},
		{"badkind", "", []string{"rack:r1"}, nil, `unknown kind "rack"`},
	}
	for _, tc := range cases {
		s, err := ParseSpec(tc.name, tc.local, tc.remote, tc.period)
		if err == nil {
			err = s.Validate(topo)
		}
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%q: %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrInvalid)):
			t.Errorf("%q: error %v, want one containing %q", tc.name, err, tc.wantErr)
		}
	}
	s, _ := ParseSpec("d", []string{"subnet:web-a"}, nil, "")
	if s.Period != time.Minute {
		t.Errorf("default period %s", s.Period)
	}
}

func TestSpecMatches(t *testing.T) {
	s, err := ParseSpec("m", []string{"subnet:web-a", "host-group:backends"}, []string{"zone:zone-b", "internet"}, "")
	if err != nil {
		t.Fatal(err)
	}
	webA := topology.Location{Kind: topology.KindSubnet, Subnet: "web-a", Zone: "zone-a"}
	appA := topology.Location{Kind: topology.KindSubnet, Subnet: "app-a", Zone: "zone-a", HostGroup: "backends"}
	webC := topology.Location{Kind: topology.KindSubnet, Subnet: "web-c", Zone: "zone-c"}
	zoneB := topology.Location{Kind: topology.KindSubnet, Subnet: "web-b", Zone: "zone-b"}
	inet := topology.Location{Kind: topology.KindInternet}
	cases := []struct {
		local, remote topology.Location
		want          bool
	}{
		{webA, zoneB, true}, {appA, inet, true}, {webA, webC, false}, {webC, zoneB, false},
	}
	for i, tc := range cases {
		if got := s.Matches(tc.local, tc.remote); got != tc.want {
			t.Errorf("case %d: %v, want %v", i, got, tc.want)
		}
	}
	all, _ := ParseSpec("all", []string{"zone:zone-c"}, nil, "")
	if !all.Matches(webC, inet) || !all.Matches(webC, webA) {
		t.Error("no remote resources must mean everywhere")
	}
}
