package main

import (
	"bytes"
	"testing"

	"github.com/flowlens/flowlens/internal/golden"

	"github.com/flowlens/flowlens/insights"
)

func sampleRows() []insights.Row {
	return []insights.Row{
		{Metric: "data-transferred", Value: 123456, Category: "inter-zone", LocalRegion: "eu-west", LocalZone: "zone-a",
			LocalNetwork: "net-prod", LocalSubnet: "web-a", RemoteKind: "subnet", RemoteResource: "subnet:web-b",
			HostID: "sim-0", LocalIP: "10.1.1.10", RemoteIP: "10.1.11.10", Port: 443, Direction: "client", Protocol: 6,
			BytesSent: 23456, BytesReceived: 100000, Retransmissions: 3, ConnectionsOpened: 2, ConnectionsClosed: 2, RoundTripTimeUS: 1234.5},
		{Metric: "data-transferred", Value: 99, Category: "internet", RemoteKind: "internet", RemoteResource: "internet",
			HostID: "sim-1", LocalIP: "10.1.1.11", RemoteIP: "81.2.69.5", Port: 80, Direction: "client", Protocol: 6, BytesSent: 99},
	}
}

func TestPrintRowsGolden(t *testing.T) {
	for _, tc := range []struct {
		name, output string
		byFlow       bool
	}{
		{"top_resource.table", "table", false},
		{"top_flow.table", "table", true},
		{"top_flow.csv", "csv", true},
		{"top_flow.json", "json", true},
	} {
		var buf bytes.Buffer
		if err := printRows(&buf, tc.output, sampleRows(), tc.byFlow); err != nil {
			t.Fatal(err)
		}
		golden.Check(t, tc.name+".golden", buf.String())
	}
	var buf bytes.Buffer
	printRows(&buf, "json", nil, false)
	if buf.String() != "[]\n" {
		t.Errorf("no rows must print an empty JSON array, got %q", buf.String())
	}
}
