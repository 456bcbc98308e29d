package topology

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the loader. It must never panic; it
// must either fail with a *CheckError whose problems all say something, or
// give a topology that prints and reads back unchanged.
func FuzzParse(f *testing.F) {
	for _, path := range []string{"../examples/topology.yaml", "../examples/topology-bad.yaml",
		"testdata/problems.yaml", "testdata/aws-import.golden", "testdata/example.golden"} {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("regions: [{id: r, zones: &z [{id: z}]}]\nnetworks: [{id: n, region: r, subnets: [{id: s, zone: z, cidrs: &c [10.0.0.0/8]}]}]\nhost_groups: [{id: g, cidrs: *c}]\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("services: [{id: s, cidrs: [::ffff:1.2.3.4/128, 1.2.3.4, 10.0.0.0/33]}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		topo, err := Parse(data, "fuzz.yaml")
		if err != nil {
			var ce *CheckError
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("Parse error is not a non-empty *CheckError: %#v", err)
			}
			for _, p := range ce.Problems {
				if p.Message == "" {
					t.Fatalf("problem without message: %#v", p)
				}
			}
			return
		}
		var out bytes.Buffer
		if err := topo.WriteYAML(&out); err != nil {
			t.Fatalf("WriteYAML: %v", err)
		}
		back, err := Parse(out.Bytes(), "printed.yaml")
		if err != nil {
			t.Fatalf("printed topology does not parse: %v\n%s", err, out.String())
		}
		assertSame(t, back, topo)
	})
}

// FuzzImportAWS feeds arbitrary JSON to the AWS importer; it must not panic,
// and a topology it returns without error must print and read back.
func FuzzImportAWS(f *testing.F) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", "aws", name))
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	f.Add(read("vpcs.json"), read("subnets.json"), read("ip-ranges.json"))
	f.Add([]byte(`{"Vpcs":[{"VpcId":"v"}]}`), []byte(`{"Subnets":[{"SubnetId":"s","VpcId":"v","AvailabilityZone":"x"}]}`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, vpcs, subnets, ranges []byte) {
		topo, err := ImportAWS(vpcs, subnets, ranges)
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := topo.WriteYAML(&out); err != nil {
			t.Fatalf("WriteYAML: %v", err)
		}
		back, err := Parse(out.Bytes(), "printed.yaml")
		if err != nil {
			t.Fatalf("printed import does not parse: %v\n%s", err, out.String())
		}
		assertSame(t, back, topo)
	})
}

// FuzzResource fuzzes ParseResource: never panics, and what it accepts prints and parses
// back to the same resource.
func FuzzResource(f *testing.F) {
	for _, s := range []string{"subnet:web-a", "internet", "host_group:g", "vpc:x", "a:b:c", ":"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseResource(s)
		if err != nil {
			return
		}
		back, err := ParseResource(r.String())
		if err != nil || back != r {
			t.Fatalf("%q -> %v -> %v, %v", s, r, back, err)
		}
	})
}
