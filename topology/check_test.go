package topology

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	goldenfile "github.com/flowlens/flowlens/internal/golden"
)

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, name, string(got))
}

func TestExampleIsClean(t *testing.T) {
	if ps := Check("../examples/topology.yaml"); len(ps) != 0 {
		t.Errorf("examples/topology.yaml has problems:\n%s", (&CheckError{Problems: ps}).Error())
	}
}

// TestBadExample pins the three planted mistakes of examples/topology-bad.yaml
// and nothing else.
func TestBadExample(t *testing.T) {
	const file = "../examples/topology-bad.yaml"
	ps := Check(file)
	want := []struct {
		line    int
		field   string
		message string
	}{
		{17, "networks[0].subnets[1].zone", `unknown zone "zone-x"`},
		{21, "networks[0].subnets[2].cidrs[0]", `10.1.1.128/25 overlaps 10.1.1.0/24 of subnet "web-a" (line 15)`},
		{27, "host_groups[0].cidrs[0]", `host bits set; the network is 10.1.1.0/24`},
	}
	if len(ps) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(ps), len(want), (&CheckError{Problems: ps}).Error())
	}
	for i, w := range want {
		p := ps[i]
		if p.File != file || p.Line != w.line || p.Field != w.field || !strings.Contains(p.Message, w.message) {
			t.Errorf("problem %d = %s, want line %d, field %s, message containing %q", i, p, w.line, w.field, w.message)
		}
	}
}

func TestProblemsGolden(t *testing.T) {
	ps := Check("testdata/problems.yaml")
	golden(t, "problems.golden", []byte((&CheckError{Problems: ps}).Error()+"\n"))
}

func TestParseProblems(t *testing.T) {
	const head = "regions: [{id: r, zones: [{id: z}]}]\nnetworks:\n  - id: n\n    region: r\n    subnets:\n"
	tests := []struct {
		name, yaml string
		want       string // one problem, as Problem.String()
	}{
		{"syntax", "regions: [\n", `t.yaml:1: invalid YAML: did not find expected node content`},
		{"tab", "regions:\n\t- id: x\n", `t.yaml:2: invalid YAML: found character that cannot start any token`},
		{"two documents", "regions: []\n---\nregions: []\n", `t.yaml:2:1: a topology file holds one YAML document; remove the second`},
		{"not a mapping", "- a\n", `t.yaml:1:1: want a mapping with keys regions, networks, services, host_groups, internet, got a list`},
		{"typo key", head + "      - id: s\n        zone: z\n        cidr: [10.0.0.0/24]\n",
			`t.yaml:8:9: networks[0].subnets[0].cidr: unknown field "cidr"; did you mean "cidrs"?`},
		{"missing id", "regions:\n  - name: x\n", `t.yaml:2:5: regions[0].id: missing id`},
		{"duplicate key", "regions:\n  - id: a\n    id: b\n", `t.yaml:3:5: regions[0].id: "id" given twice (first on line 2)`},
		{"list wanted", "services:\n  - id: s\n    cidrs: 1.2.3.0/24\n", `t.yaml:3:5: services[0].cidrs: want a list, got "1.2.3.0/24"`},
		{"string wanted", "regions:\n  - id: [a]\n", `t.yaml:2:5: regions[0].id: want a string, got a list`},
		{"unknown region", "networks:\n  - id: n\n    region: nowhere\n", `t.yaml:3:5: networks[0].region: unknown region "nowhere" (no regions are declared)`},
		{"missing zone", head + "      - id: s\n        cidrs: [10.0.0.0/24]\n", `t.yaml:6:9: networks[0].subnets[0].zone: missing zone`},
		{"no cidrs", head + "      - id: s\n        zone: z\n", `t.yaml:6:9: networks[0].subnets[0].cidrs: subnet has no cidrs`},
		{"host bits", "services:\n  - id: s\n    cidrs: [10.1.1.5/24]\n", `t.yaml:3:13: services[0].cidrs[0]: invalid CIDR "10.1.1.5/24": host bits set; the network is 10.1.1.0/24`},
		{"bad length", "services:\n  - id: s\n    cidrs: [10.1.1.0/33]\n", `t.yaml:3:13: services[0].cidrs[0]: invalid CIDR "10.1.1.0/33": prefix length out of range`},
		{"zone in address", "services:\n  - id: s\n    cidrs: [fe80::1%eth0]\n", `t.yaml:3:13: services[0].cidrs[0]: invalid CIDR "fe80::1%eth0": want an address/length such as 10.1.0.0/16`},
		{"wrong region", "regions: [{id: r, zones: [{id: z}]}, {id: q, zones: [{id: y}]}]\nnetworks:\n  - id: n\n    region: r\n    subnets:\n      - id: s\n        zone: y\n        cidrs: [10.0.0.0/24]\n",
			`t.yaml:7:9: networks[0].subnets[0].zone: zone "y" is in region "q", but network "n" is in region "r"`},
		{"service over subnet", head + "      - id: s\n        zone: z\n        cidrs: [10.0.0.0/24]\nservices:\n  - id: v\n    cidrs: [10.0.0.0/16]\n",
			`t.yaml:11:13: services[0].cidrs[0]: 10.0.0.0/16 overlaps 10.0.0.0/24 of subnet "s" (line 8); an address is either in a subnet or in a service`},
		{"duplicate zone across regions", "regions: [{id: r, zones: [{id: z}]}, {id: q, zones: [{id: z}]}]\n",
			`t.yaml:1:55: regions[1].zones[0].id: duplicate zone id "z" (first declared at line 1)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topo, err := Parse([]byte(tt.yaml), "t.yaml")
			var ce *CheckError
			if !errors.As(err, &ce) {
				t.Fatalf("Parse = %v, %v; want a *CheckError", topo, err)
			}
			if topo != nil {
				t.Errorf("Parse returned a topology with its error")
			}
			if len(ce.Problems) != 1 || ce.Problems[0].String() != tt.want {
				t.Errorf("problems:\n%s\nwant:\n%s", ce.Error(), tt.want)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	for name, src := range map[string]string{
		"empty":         "",
		"comment only":  "# nothing yet\n",
		"null":          "~\n",
		"empty mapping": "{}\n",
		"null sections": "regions:\nnetworks: ~\n",
		"bare address":  "services:\n  - id: s\n    cidrs: [192.0.2.1, 2001:db8::1]\n",
		"aliases":       "regions:\n  - id: r\n    zones: &z [{id: z}]\nnetworks:\n  - id: n\n    region: r\n    subnets:\n      - {id: s, zone: z, cidrs: &c [10.0.0.0/24]}\nhost_groups:\n  - {id: g, cidrs: *c}\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(src), "t.yaml"); err != nil {
				t.Errorf("Parse: %v", err)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/no-such-file.yaml")
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "load topology testdata/no-such-file.yaml") {
		t.Errorf("Load = %v, want a wrapped not-exist error naming the file", err)
	}
	if ps := Check("testdata/no-such-file.yaml"); len(ps) != 1 {
		t.Errorf("Check = %v, want one problem", ps)
	}
}

func TestProblemString(t *testing.T) {
	for _, tt := range []struct {
		p    Problem
		want string
	}{
		{Problem{File: "f.yaml", Line: 12, Column: 9, Field: "a.b", Message: "m"}, "f.yaml:12:9: a.b: m"},
		{Problem{File: "f.yaml", Line: 3, Message: "m"}, "f.yaml:3: m"},
		{Problem{Field: "a", Message: "m"}, "a: m"},
		{Problem{Message: "m"}, "m"},
	} {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.p, got, tt.want)
		}
	}
}

// TestParseAliasBomb: one anchor aliased thousands of times must not expand
// without bound, nor bury the user in copies of the same problem.
func TestParseAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("x: &c [")
	for i := range 1000 {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "10.%d.%d.0/24", i/256, i%256)
	}
	b.WriteString("]\nservices:\n")
	for i := range 2000 {
		fmt.Fprintf(&b, "  - {id: s%d, cidrs: *c}\n", i)
	}
	_, err := Parse([]byte(b.String()), "bomb.yaml")
	var ce *CheckError
	if !errors.As(err, &ce) || len(ce.Problems) > 3 || !strings.Contains(err.Error(), "document too large") {
		t.Fatalf("Parse = %.500v", err)
	}
}

// TestProblemCap: past maxProblems, problems are counted, not listed.
func TestProblemCap(t *testing.T) {
	var b strings.Builder
	b.WriteString("services:\n  - id: s\n    cidrs:\n")
	for i := range maxProblems + 500 {
		fmt.Fprintf(&b, "      - 10.0.%d.%d/16\n", i/256, i%256+1)
	}
	_, err := Parse([]byte(b.String()), "many.yaml")
	var ce *CheckError
	if !errors.As(err, &ce) || len(ce.Problems) != maxProblems+1 {
		t.Fatalf("got %d problems", len(ce.Problems))
	}
	if last := ce.Problems[maxProblems].String(); last != "many.yaml: 500 more problems not shown" {
		t.Errorf("last problem = %q", last)
	}
}
