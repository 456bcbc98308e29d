// Package promset registers a component's Prometheus collectors as one set,
// so a component that stops can unregister them and a new instance in the
// same process can register again.
package promset

import "github.com/prometheus/client_golang/prometheus"

// Set is a component's collectors.
type Set []prometheus.Collector

// Register adds every collector to reg (none when reg is nil); on failure it
// undoes what it added.
func (s Set) Register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	for i, c := range s {
		if err := reg.Register(c); err != nil {
			for _, done := range s[:i] {
				reg.Unregister(done)
			}
			return err
		}
	}
	return nil
}

// Unregister removes every collector from reg (nothing when reg is nil).
func (s Set) Unregister(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	for _, c := range s {
		reg.Unregister(c)
	}
}
