package duckdb

import (
	"strconv"
	"strings"

	"github.com/flowlens/flowlens/logquery/logsource"
	"github.com/flowlens/flowlens/topology"
)

// FlowsLogSource provides the agents' flows to the log query language
// (log group flowlens/flows): this store knows its tables, so it
// describes them; logquery compiles queries over the description.
func FlowsLogSource() logsource.Provider { return logsource.Static{Src: FlowsSource()} }

// FlowsSource is the agent's flows: flows joined with its key dictionaries.
// One record is one flow key in one agent interval; @timestamp is the
// interval's end.
func FlowsSource() *logsource.Source {
	s := &logsource.Source{
		Name:  logsource.FlowsGroup,
		Table: `"flows" AS "f"`,
		Joins: []logsource.Join{
			{Alias: "k", SQL: ` JOIN "flow_keys" AS "k" ON "k"."id" = "f"."key_id"`},
			{Alias: "r", SQL: ` JOIN "resource_keys" AS "r" ON "r"."id" = "k"."resource_id"`, Needs: "k"},
		},
		TimeSQL: `"f"."end_ms"`, TimeUnit: 1000, TimeCols: []string{"end_ms"},
		Default: []string{"@timestamp", "hostId", "localAddr", "remoteAddr", "port", "direction",
			"bytesSent", "bytesReceived", "retransmissions", "timeouts", "category"},
	}
	field := func(name, sql string, kind logsource.Kind, width int, join string) {
		s.Fields = append(s.Fields, logsource.Field{Name: name, SQL: sql, Kind: kind, Width: width, Join: join})
	}
	num := func(name, sql string, width int, join string) { field(name, sql, logsource.KindNumber, width, join) }
	str := func(name, sql string, join string) {
		// The dictionaries store "" for unknown; queries see it as missing.
		field(name, `nullif(`+sql+`, '')`, logsource.KindString, 12, join)
	}
	field("@timestamp", `"f"."end_ms"`, logsource.KindTime, 8, "")
	field("@log", `'`+logsource.FlowsGroup+`'`, logsource.KindString, 0, "")
	field("@logStream", `"k"."agent_id"`, logsource.KindString, 12, "k")
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
	field("direction", `CASE "k"."direction" WHEN 1 THEN 'client' WHEN 2 THEN 'server' ELSE 'unknown' END`, logsource.KindString, 1, "k")
	field("merged", `"k"."merged"`, logsource.KindBool, 1, "k")
	field("category", enumCase(`"r"."category"`, categoryNames), logsource.KindString, 1, "r")
	field("localKind", enumCase(`"k"."local_kind"`, kindNames), logsource.KindString, 1, "k")
	field("remoteKind", enumCase(`"r"."remote_kind"`, kindNames), logsource.KindString, 1, "r")
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
	s.Dynamic = flowAttrField
	return s
}

// flowAttrField resolves local.attr.NAME and remote.attr.NAME: the
// attributes enrichment providers added to either end, kept as a JSON
// object in the resource keys. NAME is checked (lower case, digits, '_'),
// so it can be written into the JSON path; a flow without the attribute
// has the field missing.
func flowAttrField(name string) (logsource.Field, bool) {
	end, attr, ok := strings.Cut(name, ".attr.")
	if !ok || (end != "local" && end != "remote") || topology.CheckAttrName(attr) != nil {
		return logsource.Field{}, false
	}
	return logsource.Field{Name: name, Kind: logsource.KindString, Width: 12, Join: "r",
		SQL: `json_extract_string(nullif("r"."` + end + `_attrs", ''), '$.` + attr + `')`}, true
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
		b.WriteString(" WHEN " + strconv.Itoa(i) + " THEN '" + n + "'")
	}
	b.WriteString(" END")
	return b.String()
}
