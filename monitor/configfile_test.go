package monitor

import (
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/config"
)

func TestFromConfig(t *testing.T) {
	good := `# monitors of the example topology
monitors:
  - name: a-to-b
    local: [zone:zone-a]
    remote: [zone:zone-b, service:objstore]
    period: 10s
  - name: web-a
    local: subnet:web-a
`
	f, err := config.Parse([]byte(good), "flowlens.yaml", ConfigSection)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := FromConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Name != "a-to-b" || ms[0].Period != 10*time.Second || len(ms[0].Remote) != 2 ||
		ms[1].Period != time.Minute || len(ms[1].Remote) != 0 || ms[1].Where != "flowlens.yaml:7" {
		t.Fatalf("got %+v", ms)
	}
	bad := []struct{ text, want string }{
		{"monitors:\n  - name: x\n    local: [subnet:a]\n    colour: red\n", `flowlens.yaml:4: monitors[0]: unknown field "colour"`},
		{"monitors:\n  - name: x\n    local: [subnet:a]\n    period: 2s\n", `flowlens.yaml:2: monitors[0]: invalid monitor: period 2s`},
		{"monitors:\n  - name: 'a b'\n    local: [subnet:a]\n", `flowlens.yaml:2: monitors[0]: invalid monitor: name "a b"`},
		{"monitors:\n  - name: x\n    local: [service:objstore]\n", `a local resource is`},
		{"monitors:\n  - name: x\n    local: [{a: b}]\n", `flowlens.yaml:3: monitors[0].local[0]: want a single value`},
		{"monitors: {a: 1}\n", `flowlens.yaml:1: monitors: want a list of monitors`},
		{"alarms: []\n", `flowlens.yaml:1: unknown section "alarms" (known: monitors)`},
		{"monitors: [\n", `flowlens.yaml`},
		{"- a\n", `flowlens.yaml:1: want a mapping of sections`},
	}
	for _, tc := range bad {
		f, err := config.Parse([]byte(tc.text), "flowlens.yaml", ConfigSection)
		if err == nil {
			_, err = FromConfig(f)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.text, err, tc.want)
		}
	}
	empty, err := config.Parse(nil, "empty.yaml", ConfigSection)
	if err != nil {
		t.Fatal(err)
	}
	if ms, err := FromConfig(empty); err != nil || len(ms) != 0 {
		t.Errorf("empty file: %v %v", ms, err)
	}
	if ms, err := FromConfig(nil); err != nil || len(ms) != 0 {
		t.Errorf("no file: %v %v", ms, err)
	}
}

// FuzzConfig checks that no config file makes the parser panic, and that
// what it accepts is a valid monitor definition.
func FuzzConfig(f *testing.F) {
	f.Add([]byte("monitors:\n  - name: a\n    local: [zone:zone-a]\n    period: 10s\n"))
	f.Add([]byte("monitors:\n  - {name: b, local: subnet:web-a, remote: [internet, service:x]}\n"))
	f.Add([]byte("monitors: ~\n"))
	f.Add([]byte("monitors: [&a {name: x}, *a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := config.Parse(data, "fuzz.yaml", ConfigSection)
		if err != nil {
			return
		}
		ms, err := FromConfig(file)
		if err != nil {
			return
		}
		for _, m := range ms {
			if err := m.Validate(nil); err != nil {
				t.Fatalf("accepted an invalid monitor %+v: %v", m, err)
			}
		}
	})
}
