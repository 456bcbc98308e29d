package logquery

import (
	"sort"
	"strings"

	"github.com/flowlens/flowlens/flowlog"
)

// Kind is a value's type as the compiler tracks it.
type Kind uint8

const (
	KindString Kind = iota
	KindNumber
	KindBool
	// KindTime is milliseconds since the Unix epoch; results show it as
	// "2006-01-02 15:04:05.000" (UTC), as Logs Insights does.
	KindTime
)

func (k Kind) String() string {
	return [...]string{"string", "number", "boolean", "time"}[k]
}

// SourceField is one queryable field of a source.
type SourceField struct {
	Name string // the query name: srcAddr, @timestamp
	// SQL computes the field over the source's FROM. It is written by this
	// package from quoted identifiers only; query text never reaches it.
	SQL  string
	Kind Kind
	// Width is the estimated bytes read per record for this field (see
	// Statistics.BytesScanned).
	Width int
	// Join is the table alias the field needs besides the main table ("" none).
	Join string
}

// Source is what a query reads: a table (or joined tables), its fields,
// and how the time range and log groups apply to it.
type Source struct {
	Name   string
	Fields []SourceField
	// Table is the FROM clause without joins; Joins are added when a used
	// field needs them, in order (a join may need an earlier one).
	Table string
	Joins []Join
	// TimeSQL is the column the time range applies to, in TimeUnit units
	// (1 for seconds, 1000 for milliseconds), inclusive at both ends.
	TimeSQL  string
	TimeUnit int64
	TimeCols []string // the columns TimeSQL reads (for bytes scanned)
	// GroupSQL is the log-group column, "" when the source is one group.
	GroupSQL   string
	GroupWidth int
	// Default are the result fields of a query that chooses none.
	Default []string
}

// Join is one optional join of a source.
type Join struct {
	Alias string
	SQL   string // " JOIN ... ON ..."
	Needs string // an earlier join this one needs
}

func (s *Source) field(name string) (*SourceField, bool) {
	for i := range s.Fields {
		if s.Fields[i].Name == name {
			return &s.Fields[i], true
		}
	}
	return nil, false
}

// FieldNames lists the source's fields, sorted.
func (s *Source) FieldNames() []string {
	out := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		out[i] = f.Name
	}
	sort.Strings(out)
	return out
}

func quote(ident string) string { return `"` + strings.ReplaceAll(ident, `"`, `""`) + `"` }

// FlowsGroup is the log group name of the agent's flows, queryable like a
// flow-log group.
const FlowsGroup = "flowlens/flows"

// flowLogWidths are the estimated average sizes of the string fields, in
// bytes, as DuckDB reads them (text length; numbers use their type's size).
var flowLogWidths = map[string]int{
	"account_id": 12, "interface_id": 21, "srcaddr": 13, "dstaddr": 13, "action": 6, "log_status": 2,
	"vpc_id": 21, "subnet_id": 24, "instance_id": 19, "type": 4, "pkt_srcaddr": 13, "pkt_dstaddr": 13,
	"region": 9, "az_id": 8, "flow_direction": 7,
}

// FlowLogSource is the flowlog_records table. formats maps
// flowlog_formats.id to its AWS field names in order; @message is rebuilt
// from them (NULL written as "-", fields joined by one space).
func FlowLogSource(formats map[int][]string) *Source {
	s := &Source{
		Name: flowlog.Table, Table: quote(flowlog.Table),
		// event_time: start, else end, else the file's time or the
		// ingestion time (store/duckdb/flowlogs, migration 5).
		TimeSQL: quote("event_time"), TimeUnit: 1, TimeCols: []string{"start"},
		GroupSQL: quote("log_group"), GroupWidth: 16,
		Default: []string{"@timestamp", "@message"},
	}
	width := func(f flowlog.Field) int {
		switch f.Type {
		case flowlog.Int32:
			return 4
		case flowlog.Int64:
			return 8
		}
		if w, ok := flowLogWidths[f.Column]; ok {
			return w
		}
		return 16
	}
	msgWidth := 0
	for _, f := range flowlog.Fields {
		k := KindString
		if f.Type != flowlog.String {
			k = KindNumber
		}
		s.Fields = append(s.Fields, SourceField{Name: f.Query, SQL: quote(f.Column), Kind: k, Width: width(f)})
	}
	s.Fields = append(s.Fields,
		SourceField{Name: "@timestamp", SQL: `("event_time" * 1000)`, Kind: KindTime, Width: 8},
		SourceField{Name: "@ingestionTime", SQL: quote("ingestion_time"), Kind: KindTime, Width: 8},
		SourceField{Name: "@log", SQL: quote("log_group"), Width: 16},
		SourceField{Name: "@logStream", SQL: quote("log_stream"), Width: 21},
	)
	s.Fields = append(s.Fields, unknownFlowLogFields(s, formats)...)
	// @message: one CASE branch per format, the ids being small integers
	// read from the database (written here as numbers, not text).
	ids := make([]int, 0, len(formats))
	for id := range formats {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	var b strings.Builder
	if len(ids) == 0 {
		b.WriteString("CAST(NULL AS VARCHAR)")
	} else {
		b.WriteString(`CASE "format_id"`)
		for _, id := range ids {
			var parts []string
			unknown := 0
			for _, name := range formats[id] {
				f, ok := flowlog.FieldByName(name)
				if !ok { // kept as text in the record's extra list
					unknown++
					parts = append(parts, `coalesce("extra"[`+itoa(int64(unknown))+`], '-')`)
					if id == ids[0] {
						msgWidth += 17
					}
					continue
				}
				parts = append(parts, `coalesce(CAST(`+quote(f.Column)+` AS VARCHAR), '-')`)
				if id == ids[0] {
					msgWidth += width(f) + 1
				}
			}
			b.WriteString(" WHEN " + itoa(int64(id)) + " THEN " + strings.Join(parts, " || ' ' || "))
		}
		b.WriteString(" END")
	}
	if msgWidth == 0 {
		msgWidth = 100
	}
	s.Fields = append(s.Fields, SourceField{Name: "@message", SQL: "(" + b.String() + ")", Width: msgWidth})
	return s
}

// unknownFlowLogFields are the fields formats name that the catalogue
// does not know (flowlog.Field.Unknown, stored as text in the extra list),
// under their camelCase name: per format, the value at the field's place
// in the list; NULL for records of formats without it. A name that
// collides with a known field is left out.
func unknownFlowLogFields(s *Source, formats map[int][]string) []SourceField {
	byName := map[string][]string{} // query name -> "WHEN id THEN extra[k]"
	var order []string
	ids := make([]int, 0, len(formats))
	for id := range formats {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		k := 0
		for _, name := range formats[id] {
			if _, ok := flowlog.FieldByName(name); ok {
				continue
			}
			k++
			q := flowlogQueryName(name)
			if _, taken := s.field(q); taken {
				continue
			}
			if _, seen := byName[q]; !seen {
				order = append(order, q)
			}
			byName[q] = append(byName[q], " WHEN "+itoa(int64(id))+` THEN "extra"[`+itoa(int64(k))+`]`)
		}
	}
	out := make([]SourceField, 0, len(order))
	for _, q := range order {
		out = append(out, SourceField{Name: q, SQL: `(CASE "format_id"` + strings.Join(byName[q], "") + ` END)`, Width: 16})
	}
	return out
}

// flowlogQueryName is the Logs Insights name of a field the catalogue does
// not know: camelCase of its AWS-style name ("new-field" -> "newField").
func flowlogQueryName(name string) string {
	parts := strings.FieldsFunc(name, func(r rune) bool { return r == '-' || r == '_' })
	for i := 1; i < len(parts); i++ {
		parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
	}
	return strings.Join(parts, "")
}

// FlowsSource is the agent's flows: flows joined with its key dictionaries
// (store/duckdb). One record is one flow key in one agent interval;
// @timestamp is the interval's end.
func FlowsSource() *Source {
	s := &Source{
		Name:  FlowsGroup,
		Table: `"flows" AS "f"`,
		Joins: []Join{
			{Alias: "k", SQL: ` JOIN "flow_keys" AS "k" ON "k"."id" = "f"."key_id"`},
			{Alias: "r", SQL: ` JOIN "resource_keys" AS "r" ON "r"."id" = "k"."resource_id"`, Needs: "k"},
		},
		TimeSQL: `"f"."end_ms"`, TimeUnit: 1000, TimeCols: []string{"end_ms"},
		Default: []string{"@timestamp", "hostId", "localAddr", "remoteAddr", "port", "direction",
			"bytesSent", "bytesReceived", "retransmissions", "timeouts", "category"},
	}
	num := func(name, sql string, width int, join string) {
		s.Fields = append(s.Fields, SourceField{Name: name, SQL: sql, Kind: KindNumber, Width: width, Join: join})
	}
	str := func(name, sql string, join string) {
		// The dictionaries store "" for unknown; queries see it as missing.
		s.Fields = append(s.Fields, SourceField{Name: name, SQL: `nullif(` + sql + `, '')`, Kind: KindString, Width: 12, Join: join})
	}
	s.Fields = append(s.Fields,
		SourceField{Name: "@timestamp", SQL: `"f"."end_ms"`, Kind: KindTime, Width: 8},
		SourceField{Name: "@log", SQL: `'` + FlowsGroup + `'`, Kind: KindString},
		SourceField{Name: "@logStream", SQL: `"k"."agent_id"`, Kind: KindString, Width: 12, Join: "k"},
	)
	num("durationMs", `"f"."dur_ms"`, 4, "")
	num("bytesSent", `"f"."bytes_sent"`, 8, "")
	num("bytesReceived", `"f"."bytes_received"`, 8, "")
	num("segmentsSent", `"f"."segments_sent"`, 8, "")
	num("segmentsReceived", `"f"."segments_received"`, 8, "")
	num("retransmissions", `"f"."retransmissions"`, 4, "")
	num("timeouts", `"f"."timeouts"`, 4, "")
	num("connectionsOpened", `"f"."conns_opened"`, 4, "")
	num("connectionsClosed", `"f"."conns_closed"`, 4, "")
	num("connectionsFailed", `("f"."failed_refused" + "f"."failed_timeout" + "f"."failed_reset")`, 12, "")
	num("failedRefused", `"f"."failed_refused"`, 4, "")
	num("failedTimeout", `"f"."failed_timeout"`, 4, "")
	num("failedReset", `"f"."failed_reset"`, 4, "")
	num("rttCount", `"f"."rtt_count"`, 4, "")
	num("rttAvg", `("f"."rtt_sum_us" / nullif("f"."rtt_count", 0))`, 12, "")
	num("rttMin", `CASE WHEN "f"."rtt_count" > 0 THEN "f"."rtt_min_us" END`, 8, "")
	num("rttMax", `CASE WHEN "f"."rtt_count" > 0 THEN "f"."rtt_max_us" END`, 8, "")
	num("handshakeCount", `"f"."hs_count"`, 4, "")
	num("handshakeAvg", `("f"."hs_sum_us" / nullif("f"."hs_count", 0))`, 12, "")
	num("handshakeMin", `CASE WHEN "f"."hs_count" > 0 THEN "f"."hs_min_us" END`, 8, "")
	num("handshakeMax", `CASE WHEN "f"."hs_count" > 0 THEN "f"."hs_max_us" END`, 8, "")
	str("agentId", `"k"."agent_id"`, "k")
	str("hostId", `"k"."host_id"`, "k")
	str("localAddr", `"k"."local_ip"`, "k")
	str("remoteAddr", `"k"."remote_ip"`, "k")
	num("port", `"k"."port"`, 2, "k")
	num("protocol", `"k"."protocol"`, 1, "k")
	s.Fields = append(s.Fields,
		SourceField{Name: "direction", SQL: `CASE "k"."direction" WHEN 1 THEN 'client' WHEN 2 THEN 'server' ELSE 'unknown' END`,
			Kind: KindString, Width: 1, Join: "k"},
		SourceField{Name: "merged", SQL: `"k"."merged"`, Kind: KindBool, Width: 1, Join: "k"},
		SourceField{Name: "category", SQL: enumCase(`"r"."category"`, categoryNames), Kind: KindString, Width: 1, Join: "r"},
		SourceField{Name: "localKind", SQL: enumCase(`"k"."local_kind"`, kindNames), Kind: KindString, Width: 1, Join: "k"},
		SourceField{Name: "remoteKind", SQL: enumCase(`"r"."remote_kind"`, kindNames), Kind: KindString, Width: 1, Join: "r"},
	)
	str("localRegion", `"r"."local_region"`, "r")
	str("localZone", `"r"."local_zone"`, "r")
	str("localNetwork", `"r"."local_network"`, "r")
	str("localSubnet", `"r"."local_subnet"`, "r")
	str("localHostGroup", `"r"."local_host_group"`, "r")
	str("localService", `"k"."local_service"`, "k")
	str("localAsOrg", `"k"."local_as_org"`, "k")
	str("localCity", `"k"."local_city"`, "k")
	str("localCountry", `"k"."local_country"`, "k")
	num("localAsn", `nullif("k"."local_asn", 0)`, 4, "k")
	str("remoteRegion", `"r"."remote_region"`, "r")
	str("remoteZone", `"r"."remote_zone"`, "r")
	str("remoteNetwork", `"r"."remote_network"`, "r")
	str("remoteSubnet", `"r"."remote_subnet"`, "r")
	str("remoteService", `"r"."remote_service"`, "r")
	str("remoteHostGroup", `"k"."remote_host_group"`, "k")
	str("remoteAsOrg", `"k"."remote_as_org"`, "k")
	str("remoteCity", `"k"."remote_city"`, "k")
	str("remoteCountry", `"k"."remote_country"`, "k")
	num("remoteAsn", `nullif("r"."remote_asn", 0)`, 4, "r")
	return s
}

// The names of topology.Category and topology.Kind by their stored number;
// TestFlowsEnumNames keeps them in step with the topology package.
var (
	categoryNames = []string{"unclassified", "service", "internet", "inter-region", "inter-network", "inter-zone", "intra-zone"}
	kindNames     = []string{"unknown", "subnet", "service", "internet"}
)

func enumCase(col string, names []string) string {
	var b strings.Builder
	b.WriteString("CASE " + col)
	for i, n := range names {
		b.WriteString(" WHEN " + itoa(int64(i)) + " THEN '" + n + "'")
	}
	b.WriteString(" END")
	return b.String()
}
