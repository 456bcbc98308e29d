package duckdb

import (
	"net/netip"
	"testing"

	"github.com/flowlens/flowlens/flow"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

// TestDictionaryTopologyChange: the same flow moved to another subnet is a
// second key chained under the same map entry; both stay reachable through
// rollback and expiry of the other.
func TestDictionaryTopologyChange(t *testing.T) {
	d := newDictionary()
	row := store.FlowRow{HostID: "h", Record: flow.Record{Key: flow.Key{
		LocalIP: netip.MustParseAddr("10.0.0.1"), RemoteIP: netip.MustParseAddr("10.0.1.1"), Port: 443,
		Direction: flow.DirectionClient, Protocol: flow.ProtocolTCP}},
		Local: topology.Location{Subnet: "a"}, Remote: topology.Location{Subnet: "b"}, Category: topology.CategoryIntraZone}
	moved := row
	moved.Remote.Subnet = "c"

	d.begin()
	e1, _ := d.flowKey(&row, "agent")
	e1.lastEndMs = 100
	d.commit()
	d.begin()
	e2, _ := d.flowKey(&moved, "agent")
	if e2 == e1 || e2.id != 1 || e2.resourceID != 1 || d.nFlows != 2 || len(d.flows) != 1 {
		t.Fatalf("moved flow: entry %+v, %d keys in %d map entries", e2, d.nFlows, len(d.flows))
	}
	if again, _ := d.flowKey(&row, "agent"); again != e1 {
		t.Errorf("original flow no longer found after the move")
	}
	d.rollback()
	if d.nFlows != 1 || d.nextFlow != 1 || d.nextRes != 1 {
		t.Fatalf("after rollback: %d keys, next ids %d/%d", d.nFlows, d.nextFlow, d.nextRes)
	}
	if e, _ := d.flowKey(&row, "agent"); e != e1 {
		t.Errorf("rollback lost the committed key")
	}
	d.begin()
	e2, _ = d.flowKey(&moved, "agent")
	e2.lastEndMs = 200
	d.commit()
	for _, e := range d.expired(150) {
		d.remove(e)
	}
	if d.nFlows != 1 {
		t.Fatalf("after expiry: %d keys, want 1", d.nFlows)
	}
	if e, _ := d.flowKey(&moved, "agent"); e != e2 {
		t.Errorf("expiring the old key lost the new one")
	}
	if d.nFlows != 1 {
		t.Errorf("lookup of a live key created a new one")
	}
}
