// Package examples ships the example topology inside the binary, so that
// `flowlens demo` and `flowlens sim` work from any directory.
package examples

import _ "embed"

// Topology is examples/topology.yaml.
//
//go:embed topology.yaml
var Topology []byte

// TopologyName is how errors and logs name the embedded file.
const TopologyName = "examples/topology.yaml (embedded)"
