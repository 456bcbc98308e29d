package awsconfig

import (
	"fmt"
	"net/netip"
	"sort"
)

// Finish checks the merged configuration for contradictions (a subnet in
// two network ACLs or two explicit route-table associations, two main route
// tables in a VPC, an interface whose VPC differs from its subnet's, one
// address on two interfaces) and returns it.
func (b *Builder) Finish() (*Config, error) {
	c := b.c
	if err := b.checkSubnetAssociations(); err != nil {
		return nil, err
	}
	if err := b.checkInterfaces(); err != nil {
		return nil, err
	}
	return c, nil
}

// errAt is an error located where resource id was defined.
func (b *Builder) errAt(id, suffix, format string, args ...any) error {
	l := b.c.origin[id]
	return &Error{File: l.file, Path: l.path + suffix, Msg: fmt.Sprintf(format, args...)}
}

func sortedKeys[T any](m map[string]T) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (b *Builder) checkSubnetAssociations() error {
	c := b.c
	nacl := map[string]string{}
	for _, id := range sortedKeys(c.NetworkACLs) {
		for j, s := range c.NetworkACLs[id].Subnets {
			if prev, ok := nacl[s]; ok && prev != id {
				return b.errAt(id, fmt.Sprintf(".Associations[%d]", j), "%s is associated with %s and %s; a subnet has one network ACL", s, prev, id)
			}
			nacl[s] = id
		}
	}
	rtb := map[string]string{}
	mainOf := map[string]string{}
	for _, id := range sortedKeys(c.RouteTables) {
		t := c.RouteTables[id]
		if t.Main && t.VPCID != "" {
			if prev, ok := mainOf[t.VPCID]; ok {
				return b.errAt(id, ".Associations", "%s has two main route tables, %s and %s", t.VPCID, prev, id)
			}
			mainOf[t.VPCID] = id
		}
		for _, s := range t.Subnets {
			if prev, ok := rtb[s]; ok && prev != id {
				return b.errAt(id, ".Associations", "%s is explicitly associated with %s and %s; a subnet has one route table", s, prev, id)
			}
			rtb[s] = id
		}
	}
	return nil
}

func (b *Builder) checkInterfaces() error {
	c := b.c
	owner := map[netip.Addr]string{}
	for _, id := range sortedKeys(c.Interfaces) {
		eni := c.Interfaces[id]
		if sn, ok := c.Subnets[eni.SubnetID]; ok && eni.VPCID != "" && sn.VPCID != "" && sn.VPCID != eni.VPCID {
			return b.errAt(id, ".VpcId", "%s is in %s but its subnet %s is in %s", id, eni.VPCID, sn.ID, sn.VPCID)
		}
		for _, a := range eni.Addresses {
			if prev, ok := owner[a]; ok && prev != id {
				return b.errAt(id, "", "address %s belongs to both %s and %s", a, prev, id)
			}
			owner[a] = id
		}
	}
	return nil
}
