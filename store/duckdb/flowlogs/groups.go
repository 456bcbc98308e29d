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
		SELECT n.log_group, coalesce(r.records, 0), coalesce(r.streams, 0), coalesce(f.files, 0), coalesce(f.bytes, 0),
		       r.first, r.last, coalesce(g.retention_days, 0)
		FROM (SELECT log_group FROM flowlog_files UNION SELECT log_group FROM `+tableGroups+`) n
		LEFT JOIN (SELECT log_group, count(*) AS files, sum(bytes) AS bytes FROM flowlog_files GROUP BY log_group) f USING (log_group)
		LEFT JOIN (SELECT log_group, count(*) AS records, count(DISTINCT log_stream) AS streams,
		                  min(event_time) AS first, max(event_time) AS last
		           FROM `+Table+` GROUP BY log_group) r USING (log_group)
		LEFT JOIN `+tableGroups+` g USING (log_group)
		ORDER BY n.log_group`)
	if err != nil {
		return nil, fmt.Errorf("list log groups: %w", err)
	}
	defer rs.Close()
	var out []flowlog.Group
	for rs.Next() {
		var g flowlog.Group
		var first, last sql.NullInt64
		if err := rs.Scan(&g.Name, &g.Records, &g.Streams, &g.Files, &g.Bytes, &first, &last, &g.RetentionDays); err != nil {
			return nil, fmt.Errorf("list log groups: %w", err)
		}
		g.First, g.Last = first.Int64, last.Int64
		out = append(out, g)
	}
	return out, rs.Err()
}
