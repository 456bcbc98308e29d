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
	// listed are grouped sources that answer the groups they list (the
	// application log groups), checked before groups.
	listed []listedSource
}

// ListedProvider is a grouped source that lists its groups.
type ListedProvider interface {
	SourceProvider
	logsource.GroupLister
}

type listedSource struct {
	about string
	p     ListedProvider
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

// AddListedGroups makes p answer the groups it lists (in the query's
// transaction); other names still go to the SetGroups source. about says
// what they hold ("application log groups").
func (s *Sources) AddListedGroups(about string, p ListedProvider) *Sources {
	s.listed = append(s.listed, listedSource{about: about, p: p})
	return s
}

// splitListed moves the names a listed source holds out of grouped, as
// parts of their own.
func (s *Sources) splitListed(ctx context.Context, tx *sql.Tx, grouped []string) ([]string, []part, error) {
	var parts []part
	for _, l := range s.listed {
		names, err := l.p.LogGroups(ctx, tx)
		if err != nil {
			return nil, nil, err
		}
		has := map[string]bool{}
		for _, n := range names {
			has[n] = true
		}
		var mine, rest []string
		for _, g := range grouped {
			if has[g] {
				mine = append(mine, g)
			} else {
				rest = append(rest, g)
			}
		}
		if len(mine) == 0 {
			continue
		}
		src, err := l.p.LogSource(ctx, tx)
		if err != nil {
			return nil, nil, err
		}
		parts = append(parts, part{src: src, groups: mine})
		grouped = rest
	}
	return grouped, parts, nil
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
	grouped, listed, err := s.splitListed(ctx, tx, grouped)
	if err != nil {
		return nil, r, err
	}
	if len(singles) == 0 && len(grouped) == 0 && len(listed) == 1 {
		r.Groups = listed[0].groups
		return listed[0].src, r, nil
	}
	if len(grouped) > 0 && s.groups == nil {
		return nil, r, fmt.Errorf("%w: unknown log group %q%s", ErrBadRequest, grouped[0], s.orSingles())
	}
	switch {
	case len(singles) == 1 && len(grouped) == 0 && len(listed) == 0:
		src, err := s.single[singles[0]].p.LogSource(ctx, tx)
		r.Groups = nil
		return src, r, err
	case len(singles) == 0 && len(listed) == 0:
		src, err := s.groups.LogSource(ctx, tx)
		r.Groups = grouped
		return src, r, err
	}
	return s.resolveParts(ctx, tx, d, q, r, singles, grouped, listed)
}

// allGroups lists every log group the sources know: the single groups,
// then those the grouped source lists (when it can).
func (s *Sources) allGroups(ctx context.Context, tx *sql.Tx) ([]string, error) {
	out := append([]string{}, s.names...)
	for _, l := range s.listed {
		gs, err := l.p.LogGroups(ctx, tx)
		if err != nil {
			return nil, err
		}
		out = append(out, gs...)
	}
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
