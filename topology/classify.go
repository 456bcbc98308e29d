package topology

// Classify puts a flow in its traffic category from where its two ends are.
// The first rule that matches wins:
//
//   - the remote end is a named service: service
//   - the remote end is on the internet: internet
//   - either end is not in a declared subnet: unclassified
//   - the ends are in different regions: inter-region
//   - different networks: inter-network
//   - different zones: inter-zone
//   - otherwise: intra-zone
//
// The third rule covers more than KindUnknown: a local end that is itself a
// service or internet address (an agent on a host with a public address that
// no subnet declares) has no region, network or zone to compare, and calling
// such flows "inter-region" would be a guess.
func Classify(local, remote Location) Category {
	switch {
	case remote.Kind == KindService:
		return CategoryService
	case remote.Kind == KindInternet:
		return CategoryInternet
	case local.Kind != KindSubnet || remote.Kind != KindSubnet:
		return CategoryUnclassified
	case local.Region != remote.Region:
		return CategoryInterRegion
	case local.Network != remote.Network:
		return CategoryInterNetwork
	case local.Zone != remote.Zone:
		return CategoryInterZone
	}
	return CategoryIntraZone
}
