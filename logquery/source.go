package logquery

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/flowlens/flowlens/logquery/logsource"
)

// The source description lives in package logsource, so that the stores
// and the flow-log side describe their tables without linking the
// compiler; these names keep logquery's API whole.
type (
	Kind        = logsource.Kind
	Source      = logsource.Source
	SourceField = logsource.Field
	Join        = logsource.Join
	// SourceProvider builds a source for one query (see logsource.Provider).
	SourceProvider = logsource.Provider
)

const (
	KindString = logsource.KindString
	KindNumber = logsource.KindNumber
	KindBool   = logsource.KindBool
	KindTime   = logsource.KindTime
)

// FlowsGroup is the log group name of the agents' flows.
const FlowsGroup = logsource.FlowsGroup

// Sources route a request's log groups to the source that answers them,
// as the owners of the tables provide them: a group of its own (the flow
// store's flowlens/flows), queried alone, or the log groups of a grouped
// source (the flow-log records), which filters by group.
type Sources struct {
	single map[string]single
	names  []string // of single, in the order added
	groups SourceProvider
	about  string // what groups holds, for messages
}

type single struct {
	about string
	p     SourceProvider
}

// AddGroup makes group answered by p alone; about says what it holds
// ("the agent's flows"), for error messages.
func (s *Sources) AddGroup(group, about string, p SourceProvider) *Sources {
	if s.single == nil {
		s.single = map[string]single{}
	}
	if _, ok := s.single[group]; !ok {
		s.names = append(s.names, group)
	}
	s.single[group] = single{about: about, p: p}
	return s
}

// SetGroups makes p answer every other group name; about says what those
// groups are ("flow-log groups"), for error messages.
func (s *Sources) SetGroups(about string, p SourceProvider) *Sources {
	s.groups, s.about = p, about
	return s
}

// resolve picks the source of r's groups; a single group's range has no
// groups (its source has no group column).
func (s *Sources) resolve(ctx context.Context, tx *sql.Tx, r Range) (*Source, Range, error) {
	if len(r.Groups) == 0 {
		return nil, r, fmt.Errorf("%w: give at least one log group%s", ErrBadRequest, s.orSingles())
	}
	for _, g := range r.Groups {
		one, ok := s.single[g]
		if !ok {
			continue
		}
		if len(r.Groups) > 1 {
			return nil, r, fmt.Errorf("%w: %s cannot be queried together with %s", ErrBadRequest, g, s.others(g))
		}
		src, err := one.p.LogSource(ctx, tx)
		r.Groups = nil
		return src, r, err
	}
	if s.groups == nil {
		return nil, r, fmt.Errorf("%w: unknown log group %q%s", ErrBadRequest, r.Groups[0], s.orSingles())
	}
	src, err := s.groups.LogSource(ctx, tx)
	return src, r, err
}

// orSingles is " (or G for ABOUT, ...)" for the single groups.
func (s *Sources) orSingles() string {
	if len(s.names) == 0 {
		return ""
	}
	parts := make([]string, len(s.names))
	for i, n := range s.names {
		parts[i] = n + " for " + s.single[n].about
	}
	return " (or " + strings.Join(parts, ", or ") + ")"
}

// others names what a single group cannot be mixed with.
func (s *Sources) others(group string) string {
	var names []string
	for _, n := range s.names {
		if n != group {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if s.groups != nil {
		names = append(names, s.about)
	}
	if len(names) == 0 {
		return "other log groups"
	}
	return strings.Join(names, " or ")
}
