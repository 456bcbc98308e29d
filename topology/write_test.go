package topology

import (
	"bytes"
	"testing"
)

// TestWriteYAMLRoundTrip prints the example and reads it back.
func TestWriteYAMLRoundTrip(t *testing.T) {
	topo := loadExample(t)
	var out bytes.Buffer
	if err := topo.WriteYAML(&out); err != nil {
		t.Fatal(err)
	}
	golden(t, "example.golden", out.Bytes())
	back, err := Parse(out.Bytes(), "printed")
	if err != nil {
		t.Fatalf("Parse(WriteYAML): %v\n%s", err, out.String())
	}
	assertSame(t, back, topo)
}

// TestWriteYAMLQuotes checks that ids and names that YAML would read as
// numbers, booleans or null come back as the same strings.
func TestWriteYAMLQuotes(t *testing.T) {
	src := "regions:\n  - id: \"1\"\n    name: \"yes\"\n    zones:\n      - id: \"0x10\"\n        name: \"~\"\nhost_groups:\n  - id: g\n    hosts: [\"true\", \"null\", \"1.5\", \"a: b\"]\n"
	topo, err := Parse([]byte(src), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := topo.WriteYAML(&out); err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out.Bytes(), "printed")
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	assertSame(t, back, topo)
}

func TestMarshalYAML(t *testing.T) {
	topo := loadExample(t)
	b, err := topo.MarshalYAML()
	if err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	if err := topo.WriteYAML(&w); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, w.Bytes()) {
		t.Errorf("MarshalYAML and WriteYAML differ")
	}
}

func TestWriteYAMLEmpty(t *testing.T) {
	var out bytes.Buffer
	if err := Empty().WriteYAML(&out); err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(out.Bytes(), "empty"); err != nil {
		t.Errorf("Parse(%q): %v", out.String(), err)
	}
}
