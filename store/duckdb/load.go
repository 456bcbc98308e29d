package duckdb

import (
	"context"
	"database/sql/driver"
	"fmt"
	"net/netip"

	"github.com/flowlens/flowlens/flow"
	"github.com/flowlens/flowlens/topology"
)

// resourceColumns is the column order of resource_keys after id, shared by
// inserts, loads and query scans.
const resourceColumns = `category, local_region, local_zone, local_network, local_subnet, local_host_group,
	remote_kind, remote_region, remote_zone, remote_network, remote_subnet, remote_service, remote_asn,
	local_attrs, remote_attrs`

// flowKeyColumns is the column order of flow_keys after id and resource_id.
const flowKeyColumns = `agent_id, host_id, local_ip, remote_ip, port, direction, protocol, merged, remote_bits,
	local_kind, local_service, local_asn, local_as_org, local_city, local_country,
	remote_host_group, remote_as_org, remote_city, remote_country`

// scanner is sql.Row or sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// resourceValues is a resource key in resourceColumns order.
func resourceValues(k *resourceKey) []driver.Value {
	return []driver.Value{uint8(k.Category), k.LocalRegion, k.LocalZone, k.LocalNetwork, k.LocalSubnet, k.LocalHostGroup,
		uint8(k.RemoteKind), k.RemoteRegion, k.RemoteZone, k.RemoteNetwork, k.RemoteSubnet, k.RemoteService, k.RemoteASN,
		k.LocalAttrs, k.RemoteAttrs}
}

// flowKeyFields is the part of a flow_keys row beyond its resource key.
type flowKeyFields struct {
	agentID, hostID     string
	localIP, remoteIP   string
	port                uint16
	direction, protocol uint8
	merged              bool
	remoteBits          uint8
	localKind           uint8
	localService        string
	localASN            uint32
	localASOrg          string
	localCity           string
	localCountry        string
	remoteHostGroup     string
	remoteASOrg         string
	remoteCity          string
	remoteCountry       string
}

func (f *flowKeyFields) dest() []any {
	return []any{&f.agentID, &f.hostID, &f.localIP, &f.remoteIP, &f.port, &f.direction, &f.protocol, &f.merged, &f.remoteBits,
		&f.localKind, &f.localService, &f.localASN, &f.localASOrg, &f.localCity, &f.localCountry,
		&f.remoteHostGroup, &f.remoteASOrg, &f.remoteCity, &f.remoteCountry}
}

// flowKeyValues is ident in flowKeyColumns order.
func flowKeyValues(id *flowIdent) []driver.Value {
	return []driver.Value{id.AgentID, id.HostID, addrString(id.Key.LocalIP), addrString(id.Key.RemoteIP), id.Key.Port,
		uint8(id.Key.Direction), id.Key.Protocol, id.Merged, id.RemoteBits,
		uint8(id.Local.Kind), id.Local.Service, id.Local.ASN, id.Local.ASOrg, id.Local.City, id.Local.Country,
		id.Remote.HostGroup, id.Remote.ASOrg, id.Remote.City, id.Remote.Country}
}

// addrString stores the zero Addr as "" rather than "invalid IP".
func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func parseAddr(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	return netip.ParseAddr(s)
}

// locations rebuilds the full Local and Remote of a flow key.
func (f *flowKeyFields) locations(rk *resourceKey) (local, remote topology.Location) {
	local = topology.Location{
		Kind: topology.Kind(f.localKind), Region: rk.LocalRegion, Zone: rk.LocalZone, Network: rk.LocalNetwork,
		Subnet: rk.LocalSubnet, Service: f.localService, HostGroup: rk.LocalHostGroup,
		ASN: f.localASN, ASOrg: f.localASOrg, City: f.localCity, Country: f.localCountry,
	}
	remote = topology.Location{
		Kind: rk.RemoteKind, Region: rk.RemoteRegion, Zone: rk.RemoteZone, Network: rk.RemoteNetwork,
		Subnet: rk.RemoteSubnet, Service: rk.RemoteService, HostGroup: f.remoteHostGroup,
		ASN: rk.RemoteASN, ASOrg: f.remoteASOrg, City: f.remoteCity, Country: f.remoteCountry,
	}
	local.Attrs, remote.Attrs = rk.attrs()
	return local, remote
}

// attrs decodes the key's enrichment attributes; the store wrote them, so
// a value it cannot read is dropped rather than failing a whole query.
func (rk *resourceKey) attrs() (local, remote topology.Attrs) {
	local, _ = topology.ParseAttrs(rk.LocalAttrs)
	remote, _ = topology.ParseAttrs(rk.RemoteAttrs)
	return local, remote
}

// ident rebuilds the flowIdent a Write interned.
func (f *flowKeyFields) ident(rk *resourceKey) (flowIdent, error) {
	lip, err := parseAddr(f.localIP)
	if err != nil {
		return flowIdent{}, fmt.Errorf("local_ip: %w", err)
	}
	rip, err := parseAddr(f.remoteIP)
	if err != nil {
		return flowIdent{}, fmt.Errorf("remote_ip: %w", err)
	}
	local, remote := f.locations(rk)
	return flowIdent{
		AgentID: f.agentID,
		HostID:  f.hostID,
		Key: flow.Key{LocalIP: lip, RemoteIP: rip, Port: f.port,
			Direction: flow.Direction(f.direction), Protocol: f.protocol},
		Merged:     f.merged,
		RemoteBits: f.remoteBits,
		Local:      local,
		Remote:     remote,
		Category:   rk.Category,
	}, nil
}

// loadDictionaries fills the in-memory dictionaries, with each flow key's
// newest end time so that Maintain can expire keys.
func (s *Store) loadDictionaries(ctx context.Context) error {
	byID, err := s.loadResourceKeys(ctx)
	if err != nil {
		return err
	}
	rows, err := s.wconn.QueryContext(ctx, `SELECT k.id, k.resource_id, `+flowKeyColumns+`, m.last_end
		FROM flow_keys k LEFT JOIN (SELECT key_id, max(end_ms) AS last_end FROM flows GROUP BY key_id) m ON m.key_id = k.id`)
	if err != nil {
		return fmt.Errorf("load flow keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, resID uint32
		var f flowKeyFields
		var lastEnd *int64
		if err := rows.Scan(append(append([]any{&id, &resID}, f.dest()...), &lastEnd)...); err != nil {
			return fmt.Errorf("load flow keys: %w", err)
		}
		rk, ok := byID[resID]
		if !ok {
			return fmt.Errorf("flow key %d: unknown resource key %d", id, resID)
		}
		ident, err := f.ident(&rk)
		if err != nil {
			return fmt.Errorf("flow key %d: %w", id, err)
		}
		e := &flowKeyEntry{id: id, resourceID: resID, lastEndMs: minMs, ident: ident}
		if lastEnd != nil {
			e.lastEndMs = *lastEnd
		}
		s.dict.insert(e)
		s.dict.nextFlow = max(s.dict.nextFlow, id+1)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load flow keys: %w", err)
	}
	return nil
}

func (s *Store) loadResourceKeys(ctx context.Context) (map[uint32]resourceKey, error) {
	rows, err := s.wconn.QueryContext(ctx, `SELECT `+resourceColumns+`, id FROM resource_keys`)
	if err != nil {
		return nil, fmt.Errorf("load resource keys: %w", err)
	}
	defer rows.Close()
	byID := make(map[uint32]resourceKey)
	for rows.Next() {
		var id uint32
		k, err := scanResourceKeyBetween(rows, nil, []any{&id})
		if err != nil {
			return nil, fmt.Errorf("load resource keys: %w", err)
		}
		byID[id] = k
		s.dict.resources[k] = id
		s.dict.nextRes = max(s.dict.nextRes, id+1)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load resource keys: %w", err)
	}
	return byID, nil
}

// loadSeen rebuilds the per-(agent, epoch) interval sets from batch_seen.
func (s *Store) loadSeen(ctx context.Context) error {
	rows, err := s.wconn.QueryContext(ctx, `SELECT agent_id, epoch, seq_lo, seq_hi FROM batch_seen`)
	if err != nil {
		return fmt.Errorf("load seen batches: %w", err)
	}
	defer rows.Close()
	byKey := make(map[seenKey][]seqRange)
	n := 0
	for rows.Next() {
		var key seenKey
		var r seqRange
		if err := rows.Scan(&key.agent, &key.epoch, &r.lo, &r.hi); err != nil {
			return fmt.Errorf("load seen batches: %w", err)
		}
		byKey[key] = append(byKey[key], r)
		n++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load seen batches: %w", err)
	}
	for key, rs := range byKey {
		set := seqSetOf(rs)
		s.seen[key] = &set
	}
	s.seenRows = n
	return nil
}
