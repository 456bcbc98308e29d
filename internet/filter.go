package internet

import (
	"fmt"
	"strconv"
	"strings"
)

// Filter is one EQUALS or NOT_EQUALS condition on a location field.
type Filter struct {
	Field  string // city, country or asn
	Negate bool   // field!=value
	Value  string // asn: the number, without "AS"
}

// filterFields are the fields filters accept.
var filterFields = []string{"city", "country", "asn"}

// ParseFilter reads "field=value" or "field!=value" (city, country, asn;
// asn accepts 64500 or AS64500; country and city compare without case).
func ParseFilter(s string) (Filter, error) {
	var f Filter
	field, value, ok := strings.Cut(s, "!=")
	if ok {
		f.Negate = true
	} else if field, value, ok = strings.Cut(s, "="); !ok {
		return f, fmt.Errorf("filter %q: want field=value or field!=value (fields: %s)", s, strings.Join(filterFields, ", "))
	}
	f.Field, f.Value = strings.ToLower(strings.TrimSpace(field)), strings.TrimSpace(value)
	switch f.Field {
	case "city", "country":
	case "asn":
		n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToUpper(f.Value), "AS"), 10, 32)
		if err != nil {
			return f, fmt.Errorf("filter %q: asn %q is not a number (64500 or AS64500)", s, f.Value)
		}
		f.Value = strconv.FormatUint(n, 10)
	default:
		return f, fmt.Errorf("filter %q: unknown field %q (want %s)", s, f.Field, strings.Join(filterFields, ", "))
	}
	return f, nil
}

// String is the form ParseFilter reads.
func (f Filter) String() string {
	op := "="
	if f.Negate {
		op = "!="
	}
	return f.Field + op + f.Value
}

// ParseFilters reads several filters; all must hold.
func ParseFilters(ss []string) ([]Filter, error) {
	out := make([]Filter, 0, len(ss))
	for _, s := range ss {
		f, err := ParseFilter(s)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// Match says whether a location passes the filter.
func (f Filter) Match(l Location) bool {
	var eq bool
	switch f.Field {
	case "city":
		eq = strings.EqualFold(l.City, f.Value)
	case "country":
		eq = strings.EqualFold(l.Country, f.Value)
	case "asn":
		eq = strconv.FormatUint(uint64(l.ASN), 10) == f.Value
	}
	return eq != f.Negate
}

// matchAll says whether a location passes every filter.
func matchAll(fs []Filter, l Location) bool {
	for _, f := range fs {
		if !f.Match(l) {
			return false
		}
	}
	return true
}

// sql is the filter as a WHERE condition on the measurement columns and
// its argument.
func (f Filter) sql() (string, any) {
	op := "="
	if f.Negate {
		op = "<>"
	}
	switch f.Field {
	case "asn":
		n, _ := strconv.ParseUint(f.Value, 10, 32)
		return "asn " + op + " ?", n
	case "country":
		return "lower(country) " + op + " lower(?)", f.Value
	}
	return "lower(city) " + op + " lower(?)", f.Value
}
