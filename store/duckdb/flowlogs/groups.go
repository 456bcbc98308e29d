package flowlogs

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/flowlens/flowlens/flowlog"
)

// Groups lists every log group, by name.
func (s *Store) Groups(ctx context.Context) ([]flowlog.Group, error) {
	rs, err := s.db.QueryContext(ctx, `
		SELECT f.log_group, coalesce(r.records, 0), coalesce(r.streams, 0), f.files, f.bytes, r.first, r.last
		FROM (SELECT log_group, count(*) AS files, sum(bytes) AS bytes FROM flowlog_files GROUP BY log_group) f
		LEFT JOIN (SELECT log_group, count(*) AS records, count(DISTINCT log_stream) AS streams,
		                  min(event_time) AS first, max(event_time) AS last
		           FROM `+Table+` GROUP BY log_group) r USING (log_group)
		ORDER BY f.log_group`)
	if err != nil {
		return nil, fmt.Errorf("list log groups: %w", err)
	}
	defer rs.Close()
	var out []flowlog.Group
	for rs.Next() {
		var g flowlog.Group
		var first, last sql.NullInt64
		if err := rs.Scan(&g.Name, &g.Records, &g.Streams, &g.Files, &g.Bytes, &first, &last); err != nil {
			return nil, fmt.Errorf("list log groups: %w", err)
		}
		g.First, g.Last = first.Int64, last.Int64
		out = append(out, g)
	}
	return out, rs.Err()
}
