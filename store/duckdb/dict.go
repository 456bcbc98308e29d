package duckdb

import (
	"fmt"
	"math"

	"github.com/flowlens/flowlens/flow"
	"github.com/flowlens/flowlens/store"
	"github.com/flowlens/flowlens/topology"
)

// resourceKey is what roll-ups keep of a flow: the resource-level place of
// both ends and the category. City, AS organisation, host and IP addresses
// are dropped, so a few hundred keys cover a fleet.
type resourceKey struct {
	Category       topology.Category
	LocalRegion    string
	LocalZone      string
	LocalNetwork   string
	LocalSubnet    string
	LocalHostGroup string
	RemoteKind     topology.Kind
	RemoteRegion   string
	RemoteZone     string
	RemoteNetwork  string
	RemoteSubnet   string
	RemoteService  string
	RemoteASN      uint32
	// Enrichment attributes, encoded (topology.Attrs.Encoded).
	LocalAttrs  string
	RemoteAttrs string
}

func resourceKeyOf(r *store.FlowRow) resourceKey {
	return resourceKey{
		Category:       r.Category,
		LocalRegion:    r.Local.Region,
		LocalZone:      r.Local.Zone,
		LocalNetwork:   r.Local.Network,
		LocalSubnet:    r.Local.Subnet,
		LocalHostGroup: r.Local.HostGroup,
		RemoteKind:     r.Remote.Kind,
		RemoteRegion:   r.Remote.Region,
		RemoteZone:     r.Remote.Zone,
		RemoteNetwork:  r.Remote.Network,
		RemoteSubnet:   r.Remote.Subnet,
		RemoteService:  r.Remote.Service,
		RemoteASN:      r.Remote.ASN,
		LocalAttrs:     r.Local.Attrs.Encoded(),
		RemoteAttrs:    r.Remote.Attrs.Encoded(),
	}
}

// flowIdent identifies one flow key row: everything a FlowRow carries
// except the interval and the counters. A topology change that moves a flow
// to another subnet makes a new key, so old rows keep their old place.
type flowIdent struct {
	AgentID    string
	HostID     string
	Key        flow.Key
	Merged     bool
	RemoteBits uint8
	Local      topology.Location
	Remote     topology.Location
	Category   topology.Category
}

func flowIdentOf(r *store.FlowRow, agentID string) flowIdent {
	return flowIdent{
		AgentID:    agentID,
		HostID:     r.HostID,
		Key:        r.Key,
		Merged:     r.Merged,
		RemoteBits: r.RemoteBits,
		Local:      r.Local,
		Remote:     r.Remote,
		Category:   r.Category,
	}
}

// flowShort is the cheap-to-hash part of a flowIdent: the dictionary map
// is keyed by it (hashing all the location strings of every row cost 7% of
// ingest CPU), and entries sharing it, which only a topology change
// creates, are chained.
type flowShort struct {
	AgentID    string
	Key        flow.Key
	Merged     bool
	RemoteBits uint8
}

// flowKeyEntry is the in-memory side of a flow_keys row. lastEndMs is the
// latest end time stored for the key; Maintain drops keys whose rows have
// all aged out of raw retention.
type flowKeyEntry struct {
	id         uint32
	resourceID uint32
	lastEndMs  int64
	ident      flowIdent
	next       *flowKeyEntry // same flowShort, other places
}

// matches reports whether r (from agentID) is this entry's flow; the
// flowShort part is already known to be equal.
func (e *flowKeyEntry) matches(r *store.FlowRow) bool {
	return e.ident.HostID == r.HostID && e.ident.Category == r.Category &&
		e.ident.Local == r.Local && e.ident.Remote == r.Remote
}

type newResourceKey struct {
	key resourceKey
	id  uint32
}

// dictionary interns flow and resource keys to small ids. It is the
// authoritative copy of flow_keys and resource_keys, loaded at Open, and
// only the writer (holding Store.mu) touches it.
type dictionary struct {
	flows     map[flowShort]*flowKeyEntry
	nFlows    int
	resources map[resourceKey]uint32
	nextFlow  uint32
	nextRes   uint32
	newFlows  []*flowKeyEntry
	newRes    []newResourceKey
	savedFlow uint32
	savedRes  uint32
}

func newDictionary() *dictionary {
	return &dictionary{
		flows:     make(map[flowShort]*flowKeyEntry),
		resources: make(map[resourceKey]uint32),
	}
}

func shortOf(id *flowIdent) flowShort {
	return flowShort{AgentID: id.AgentID, Key: id.Key, Merged: id.Merged, RemoteBits: id.RemoteBits}
}

// insert links e into the map.
func (d *dictionary) insert(e *flowKeyEntry) {
	k := shortOf(&e.ident)
	e.next = d.flows[k]
	d.flows[k] = e
	d.nFlows++
}

// remove unlinks e from the map.
func (d *dictionary) remove(e *flowKeyEntry) {
	k := shortOf(&e.ident)
	p := d.flows[k]
	if p == e {
		if e.next == nil {
			delete(d.flows, k)
		} else {
			d.flows[k] = e.next
		}
		d.nFlows--
		return
	}
	for ; p != nil; p = p.next {
		if p.next == e {
			p.next = e.next
			d.nFlows--
			return
		}
	}
}

// begin starts staging keys for one Write.
func (d *dictionary) begin() {
	d.newFlows = d.newFlows[:0]
	d.newRes = d.newRes[:0]
	d.savedFlow, d.savedRes = d.nextFlow, d.nextRes
}

// commit keeps the keys staged since begin.
func (d *dictionary) commit() {
	d.newFlows = d.newFlows[:0]
	d.newRes = d.newRes[:0]
}

// rollback forgets the keys staged since begin, after a failed
// transaction, so their ids are handed out again.
func (d *dictionary) rollback() {
	for _, e := range d.newFlows {
		d.remove(e)
	}
	for _, k := range d.newRes {
		delete(d.resources, k.key)
	}
	d.nextFlow, d.nextRes = d.savedFlow, d.savedRes
	d.newFlows = d.newFlows[:0]
	d.newRes = d.newRes[:0]
}

// flowKey returns the entry of the row's key, creating and staging it (and
// its resource key) when new.
func (d *dictionary) flowKey(r *store.FlowRow, agentID string) (*flowKeyEntry, error) {
	for e := d.flows[flowShort{AgentID: agentID, Key: r.Key, Merged: r.Merged, RemoteBits: r.RemoteBits}]; e != nil; e = e.next {
		if e.matches(r) {
			return e, nil
		}
	}
	resID, err := d.resourceID(resourceKeyOf(r))
	if err != nil {
		return nil, err
	}
	if d.nextFlow == math.MaxUint32 {
		return nil, fmt.Errorf("flow key ids exhausted (%d)", d.nextFlow)
	}
	e := &flowKeyEntry{id: d.nextFlow, resourceID: resID, lastEndMs: math.MinInt64, ident: flowIdentOf(r, agentID)}
	d.nextFlow++
	d.insert(e)
	d.newFlows = append(d.newFlows, e)
	return e, nil
}

func (d *dictionary) resourceID(k resourceKey) (uint32, error) {
	if id, ok := d.resources[k]; ok {
		return id, nil
	}
	if d.nextRes == math.MaxUint32 {
		return 0, fmt.Errorf("resource key ids exhausted (%d)", d.nextRes)
	}
	id := d.nextRes
	d.nextRes++
	d.resources[k] = id
	d.newRes = append(d.newRes, newResourceKey{key: k, id: id})
	return id, nil
}

// expired lists the flow keys whose newest row ended before cutoffMs.
func (d *dictionary) expired(cutoffMs int64) []*flowKeyEntry {
	var out []*flowKeyEntry
	for _, e := range d.flows {
		for ; e != nil; e = e.next {
			if e.lastEndMs < cutoffMs {
				out = append(out, e)
			}
		}
	}
	return out
}
