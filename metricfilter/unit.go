package metricfilter

import "strings"

// Units are CloudWatch's metric units, the values PutMetricFilter accepts
// in metricTransformations[].unit (StandardUnit, CloudWatch Logs API
// Reference, MetricTransformation). A filter without one has "None".
var Units = []string{
	"Seconds", "Microseconds", "Milliseconds",
	"Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
	"Bits", "Kilobits", "Megabits", "Gigabits", "Terabits",
	"Percent", "Count",
	"Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second",
	"Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second",
	"Count/Second", "None",
}

// UnitNone is the unit of a filter that names none.
const UnitNone = "None"

var unitByLower = func() map[string]string {
	m := make(map[string]string, len(Units))
	for _, u := range Units {
		m[strings.ToLower(u)] = u
	}
	return m
}()

// CanonicalUnit returns the unit as CloudWatch spells it (any letter case
// is accepted; empty is "None"), and false for a name not in Units.
func CanonicalUnit(u string) (string, bool) {
	if u == "" {
		return UnitNone, true
	}
	c, ok := unitByLower[strings.ToLower(u)]
	return c, ok
}

// UnitOf returns the unit of the metric a filter publishes (namespace and
// name), so alarms and the UI can label its values; ok is false when no
// filter publishes it. Filters of different groups may publish one metric:
// the first by group and name wins.
func (m *Module) UnitOf(namespace, metric string) (unit string, ok bool) {
	for _, f := range m.List("") {
		if f.MetricNamespace == namespace && f.MetricName == metric {
			return f.Unit, true
		}
	}
	return "", false
}
