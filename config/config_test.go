package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestParse(t *testing.T) {
	f, err := Parse([]byte("# comment\nmonitors:\n  - name: a\nalarms: []\n"), "c.yaml", "monitors", "alarms")
	if err != nil {
		t.Fatal(err)
	}
	if f.Section("monitors") == nil || f.Section("alarms") == nil || f.Section("other") != nil {
		t.Error("sections not found")
	}
	if got := f.Where(f.Section("monitors")); got != "c.yaml:3" {
		t.Errorf("where %q", got)
	}
	var nilFile *File
	if nilFile.Section("monitors") != nil {
		t.Error("a nil file has no sections")
	}
	bad := []struct{ text, want string }{
		{"other: 1\n", `c.yaml:1: unknown section "other" (known: alarms, monitors)`},
		{"monitors: []\nmonitors: []\n", `c.yaml:2: section "monitors" appears twice`},
		{"[1, 2]\n", `c.yaml:1: want a mapping of sections`},
		{"monitors: [\n", `c.yaml: yaml:`},
	}
	for _, tc := range bad {
		_, err := Parse([]byte(tc.text), "c.yaml", "monitors", "alarms")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.text, err, tc.want)
		}
	}
}

func TestFieldsAndValues(t *testing.T) {
	f, err := Parse([]byte("monitors:\n  - name: a\n    local: [x, y]\n    one: z\n    bad: {k: v}\n"), "c.yaml", "monitors")
	if err != nil {
		t.Fatal(err)
	}
	item := f.Section("monitors").Content[0]
	got := map[string][]string{}
	err = f.Fields(item, "monitors[0]", []string{"name", "local", "one"}, func(k string, v *yaml.Node) error {
		vals, err := f.Strings(v, k)
		got[k] = vals
		return err
	})
	if err == nil || err.Error() != `c.yaml:5: monitors[0]: unknown field "bad" (want name, local, one)` {
		t.Errorf("unknown field: %v", err)
	}
	if strings.Join(got["local"], ",") != "x,y" || strings.Join(got["one"], ",") != "z" {
		t.Errorf("values %v", got)
	}
	if _, err := f.String(item, "monitors[0]"); err == nil {
		t.Error("a mapping is not a single value")
	}
}

func TestLoad(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "config file") {
		t.Errorf("missing file: %v", err)
	}
	p := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(p, []byte(""), 0o644)
	if f, err := Load(p, "monitors"); err != nil || f.Section("monitors") != nil {
		t.Errorf("empty file: %v", err)
	}
}
