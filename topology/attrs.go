package topology

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
)

// Attrs are the named attributes enrichment providers add to one end of a
// flow (Kubernetes namespace, cloud tags, ...). The value is comparable
// and costs one empty string when there are none; it holds the canonical
// JSON object (keys sorted), which is also how stores keep it.
type Attrs struct{ enc string }

// MaxAttrValue is the longest attribute value kept, in bytes; longer
// values are cut (a provider's data must not bloat every dictionary row).
const MaxAttrValue = 256

var attrName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// CheckAttrName says whether name can be an attribute name: lower-case
// letters, digits and '_', starting with a letter, up to 63 bytes (it
// becomes part of query field names such as remote.attr.NAME).
func CheckAttrName(name string) error {
	if !attrName.MatchString(name) {
		return fmt.Errorf("attribute name %q: use lower-case letters, digits and '_', starting with a letter (up to 63)", name)
	}
	return nil
}

// IsZero reports whether there are no attributes.
func (a Attrs) IsZero() bool { return a.enc == "" }

// Map returns the attributes as a map (nil when none).
func (a Attrs) Map() map[string]string {
	if a.enc == "" {
		return nil
	}
	m := map[string]string{}
	json.Unmarshal([]byte(a.enc), &m) //nolint:errcheck // enc is always our own encoding
	return m
}

// Get returns one attribute.
func (a Attrs) Get(name string) (string, bool) {
	v, ok := a.Map()[name]
	return v, ok
}

// With returns a copy with name set to value (cut to MaxAttrValue); an
// empty value removes it. It panics on an invalid name: providers declare
// their names, which the enrichment chain checks at registration.
func (a Attrs) With(name, value string) Attrs {
	if err := CheckAttrName(name); err != nil {
		panic(err)
	}
	if len(value) > MaxAttrValue {
		value = value[:MaxAttrValue]
	}
	m := a.Map()
	if m == nil {
		m = map[string]string{}
	}
	if value == "" {
		delete(m, name)
	} else {
		m[name] = value
	}
	return AttrsOf(m)
}

// AttrsOf builds attributes from a map; invalid names are left out.
func AttrsOf(m map[string]string) Attrs {
	keep := map[string]string{}
	for k, v := range m {
		if CheckAttrName(k) == nil && v != "" {
			if len(v) > MaxAttrValue {
				v = v[:MaxAttrValue]
			}
			keep[k] = v
		}
	}
	if len(keep) == 0 {
		return Attrs{}
	}
	b, _ := json.Marshal(keep) // sorted keys: one encoding per set
	return Attrs{enc: string(b)}
}

// Names lists the attribute names, sorted.
func (a Attrs) Names() []string {
	m := a.Map()
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Encoded is the canonical JSON object, "" when there are none (what
// stores keep).
func (a Attrs) Encoded() string { return a.enc }

// ParseAttrs reads an Encoded value back.
func ParseAttrs(s string) (Attrs, error) {
	if s == "" {
		return Attrs{}, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return Attrs{}, fmt.Errorf("attributes %q: %w", s, err)
	}
	return AttrsOf(m), nil
}

// MarshalJSON writes the attributes as a JSON object.
func (a Attrs) MarshalJSON() ([]byte, error) {
	if a.enc == "" {
		return []byte("{}"), nil
	}
	return []byte(a.enc), nil
}

// UnmarshalJSON reads a JSON object of strings.
func (a *Attrs) UnmarshalJSON(b []byte) error {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*a = AttrsOf(m)
	return nil
}
