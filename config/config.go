// Package config reads the server's configuration file (YAML, given with
// --config). The file is a mapping of sections, one per feature
// (`monitors:` today); each feature decodes its own section, so adding a
// section means adding its name to the known list and decoding it where the
// feature is built. Every error names the file, the line and the field.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxSize bounds a config file.
const MaxSize = 4 << 20

// File is a parsed config file.
type File struct {
	Path     string
	sections map[string]*yaml.Node
	keyLines map[string]int
}

// Load reads and parses path, and checks that every top-level section is
// one of known.
func Load(path string, known ...string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, MaxSize)
	}
	return Parse(data, path, known...)
}

// Parse is Load on bytes; name is used in messages.
func Parse(data []byte, name string, known ...string) (*File, error) {
	f := &File{Path: name, sections: map[string]*yaml.Node{}, keyLines: map[string]int{}}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return f, nil // an empty file configures nothing
		}
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if len(doc.Content) == 0 {
		return f, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: want a mapping of sections (%s)", name, root.Line, strings.Join(known, ", "))
	}
	allowed := map[string]bool{}
	for _, k := range known {
		allowed[k] = true
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if !allowed[k.Value] {
			return nil, fmt.Errorf("%s:%d: unknown section %q (known: %s)", name, k.Line, k.Value, strings.Join(sorted(known), ", "))
		}
		if _, dup := f.sections[k.Value]; dup {
			return nil, fmt.Errorf("%s:%d: section %q appears twice", name, k.Line, k.Value)
		}
		f.sections[k.Value], f.keyLines[k.Value] = v, k.Line
	}
	return f, nil
}

func sorted(xs []string) []string {
	out := append([]string(nil), xs...)
	sort.Strings(out)
	return out
}

// Section returns a section's node, nil when the file does not have it.
// A nil *File has no sections.
func (f *File) Section(name string) *yaml.Node {
	if f == nil {
		return nil
	}
	return f.sections[name]
}

// Where formats a node's position for messages.
func (f *File) Where(n *yaml.Node) string {
	return fmt.Sprintf("%s:%d", f.Path, n.Line)
}

// Errorf reports a problem at a node: "file:line: field: message".
func (f *File) Errorf(n *yaml.Node, field, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if field != "" {
		msg = field + ": " + msg
	}
	return fmt.Errorf("%s: %s", f.Where(n), msg)
}

// Fields walks a mapping node's keys, rejecting any not in allowed (with
// its line) and calling fn for each known one.
func (f *File) Fields(n *yaml.Node, what string, allowed []string, fn func(key string, value *yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return f.Errorf(n, what, "want a mapping with %s", strings.Join(allowed, ", "))
	}
	ok := map[string]bool{}
	for _, a := range allowed {
		ok[a] = true
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !ok[k.Value] {
			return f.Errorf(k, what, "unknown field %q (want %s)", k.Value, strings.Join(allowed, ", "))
		}
		if seen[k.Value] {
			return f.Errorf(k, what, "field %q appears twice", k.Value)
		}
		seen[k.Value] = true
		if err := fn(k.Value, v); err != nil {
			return err
		}
	}
	return nil
}

// String decodes a scalar.
func (f *File) String(n *yaml.Node, field string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", f.Errorf(n, field, "want a single value")
	}
	return n.Value, nil
}

// Strings decodes a scalar or a sequence of scalars.
func (f *File) Strings(n *yaml.Node, field string) ([]string, error) {
	if n.Kind == yaml.ScalarNode {
		if n.Tag == "!!null" {
			return nil, nil
		}
		return []string{n.Value}, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, f.Errorf(n, field, "want a value or a list of values")
	}
	out := make([]string, 0, len(n.Content))
	for i, c := range n.Content {
		if c.Kind != yaml.ScalarNode {
			return nil, f.Errorf(c, fmt.Sprintf("%s[%d]", field, i), "want a single value")
		}
		out = append(out, c.Value)
	}
	return out, nil
}
