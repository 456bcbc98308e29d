// Package flowlog is the VPC Flow Logs format (versions 2 to 8, default and
// custom formats, the header line), its field catalogue, the record parser
// and the time bounds of a record: pure Go, with no storage, network or
// file access. The importer (flowlog/importer), the sources
// (flowlog/source), the /api/v1/logs module (flowlog/logsapi) and the
// record storage (store/duckdb/flowlogs) build on it; the query language
// (logquery) needs only the catalogue.
package flowlog

import (
	"strings"
)

// Type is a field's value type, as in the AWS reference.
type Type uint8

const (
	String Type = iota
	Int32
	Int64
)

// Field is one flow-log field.
type Field struct {
	Name    string // the AWS name in formats and headers: "srcaddr", "pkt-src-aws-service"
	Query   string // the Logs Insights name: "srcAddr", "pktSrcAwsService"
	Column  string // the column of flowlog_records: Name with '-' as '_'
	Version int    // the flow-log version that introduced it
	Type    Type
	// Unknown marks a name a format gave that is not in Fields (a field
	// AWS added after this catalogue): its values are kept as text, in
	// the record's "extra" list, and Column is empty.
	Unknown bool
}

// Fields are every field of versions 2 to 8, plus resource-id and
// encryption-status (counted as version 8 for the record's version), then
// the Transit Gateway Flow Logs fields (version 6 of those records; AWS
// "Transit Gateway Flow Log records", available fields). New fields go at
// the end: store migrations up to 4 use the first BaseFields of them.
var Fields = buildFields([]struct {
	version int
	typ     Type
	names   string
}{
	{2, Int32, "version"},
	{2, String, "account-id interface-id srcaddr dstaddr"},
	{2, Int32, "srcport dstport protocol"},
	{2, Int64, "packets bytes start end"},
	{2, String, "action log-status"},
	{3, String, "vpc-id subnet-id instance-id"},
	{3, Int32, "tcp-flags"},
	{3, String, "type pkt-srcaddr pkt-dstaddr"},
	{4, String, "region az-id sublocation-type sublocation-id"},
	{5, String, "pkt-src-aws-service pkt-dst-aws-service flow-direction"},
	{5, Int32, "traffic-path"},
	{7, String, "ecs-cluster-arn ecs-cluster-name ecs-container-instance-arn ecs-container-instance-id ecs-container-id ecs-second-container-id ecs-service-name ecs-task-definition-arn ecs-task-arn ecs-task-id"},
	{8, String, "reject-reason resource-id"},
	{8, Int32, "encryption-status"},
	{6, String, "resource-type tgw-id tgw-attachment-id tgw-src-vpc-account-id tgw-dst-vpc-account-id tgw-src-vpc-id tgw-dst-vpc-id tgw-src-subnet-id tgw-dst-subnet-id tgw-src-eni tgw-dst-eni tgw-src-az-id tgw-dst-az-id tgw-pair-attachment-id"},
	{6, Int64, "packets-lost-no-route packets-lost-blackhole packets-lost-mtu-exceeded packets-lost-ttl-expired"},
})

// BaseFields is how many of Fields the catalogue had before the Transit
// Gateway fields (the store's first migrations create exactly those).
const BaseFields = 42

// TGWDefaultFormat is the Transit Gateway flow logs' default format: every
// version 2 to 6 field of a transit gateway record, in the order of AWS's
// table ("Transit Gateway Flow Log records", default format).
const TGWDefaultFormat = "${version} ${resource-type} ${account-id} ${tgw-id} ${tgw-attachment-id} ${tgw-src-vpc-account-id} ${tgw-dst-vpc-account-id} ${tgw-src-vpc-id} ${tgw-dst-vpc-id} ${tgw-src-subnet-id} ${tgw-dst-subnet-id} ${tgw-src-eni} ${tgw-dst-eni} ${tgw-src-az-id} ${tgw-dst-az-id} ${tgw-pair-attachment-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${log-status} ${type} ${packets-lost-no-route} ${packets-lost-blackhole} ${packets-lost-mtu-exceeded} ${packets-lost-ttl-expired} ${tcp-flags} ${region} ${flow-direction} ${pkt-src-aws-service} ${pkt-dst-aws-service}"

// DefaultFormat is the version 2 default format.
const DefaultFormat = "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}"

// queryNames are the Logs Insights names that are not plain camelCase of
// the AWS name.
var queryNames = map[string]string{
	"srcaddr": "srcAddr", "dstaddr": "dstAddr", "srcport": "srcPort", "dstport": "dstPort",
	"pkt-srcaddr": "pktSrcAddr", "pkt-dstaddr": "pktDstAddr", "log-status": "logStatus",
}

func buildFields(groups []struct {
	version int
	typ     Type
	names   string
}) []Field {
	var out []Field
	for _, g := range groups {
		for _, n := range strings.Fields(g.names) {
			q, ok := queryNames[n]
			if !ok {
				q = camel(n)
			}
			out = append(out, Field{Name: n, Query: q, Column: strings.ReplaceAll(n, "-", "_"), Version: g.version, Type: g.typ})
		}
	}
	return out
}

// unknownField describes a field name the catalogue does not have.
func unknownField(name string) Field {
	return Field{Name: name, Query: camel(name), Type: String, Unknown: true}
}

// camel turns "account-id" into "accountId".
func camel(s string) string {
	parts := strings.Split(s, "-")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// FieldByName finds a field by its AWS name.
func FieldByName(name string) (Field, bool) {
	for _, f := range Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// FieldByQuery finds a field by its Logs Insights name.
func FieldByQuery(name string) (Field, bool) {
	for _, f := range Fields {
		if f.Query == name {
			return f, true
		}
	}
	return Field{}, false
}
