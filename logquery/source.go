package logquery

import (
	"context"
	"database/sql"
	"fmt"
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
	KindJSON   = logsource.KindJSON
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
// groups (its source has no group column). Groups of several sources are
// read as one (see unionSource).
func (s *Sources) resolve(ctx context.Context, tx *sql.Tx, d Dialect, q *Query, r Range) (*Source, Range, error) {
	if len(r.Groups) == 0 {
		return nil, r, fmt.Errorf("%w: give at least one log group%s", ErrBadRequest, s.orSingles())
	}
	if len(r.Groups) > MaxGroups {
		return nil, r, fmt.Errorf("%w: %d log groups: at most %d per query", ErrBadRequest, len(r.Groups), MaxGroups)
	}
	var singles, grouped []string
	for _, g := range r.Groups {
		if _, ok := s.single[g]; ok {
			singles = appendUnique(singles, g)
		} else {
			grouped = append(grouped, g)
		}
	}
	if len(grouped) > 0 && s.groups == nil {
		return nil, r, fmt.Errorf("%w: unknown log group %q%s", ErrBadRequest, grouped[0], s.orSingles())
	}
	switch {
	case len(singles) == 1 && len(grouped) == 0:
		src, err := s.single[singles[0]].p.LogSource(ctx, tx)
		r.Groups = nil
		return src, r, err
	case len(singles) == 0:
		src, err := s.groups.LogSource(ctx, tx)
		return src, r, err
	}
	return s.resolveParts(ctx, tx, d, q, r, singles, grouped)
}

// allGroups lists every log group the sources know: the single groups,
// then those the grouped source lists (when it can).
func (s *Sources) allGroups(ctx context.Context, tx *sql.Tx) ([]string, error) {
	out := append([]string{}, s.names...)
	if l, ok := s.groups.(logsource.GroupLister); ok {
		gs, err := l.LogGroups(ctx, tx)
		if err != nil {
			return nil, err
		}
		out = append(out, gs...)
	}
	return out, nil
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
