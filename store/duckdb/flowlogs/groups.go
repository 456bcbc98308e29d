package flowlog

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/flowlens/flowlens/internal/pathseg"
)

// Group is one log group's content.
type Group struct {
	Name    string `json:"name"`
	Records int64  `json:"records"`
	Streams int64  `json:"streams"`
	Files   int64  `json:"files"`
	Bytes   int64  `json:"bytes"`
	// First and Last are the earliest and latest record start (Unix
	// seconds), 0 when the group holds no timed record.
	First int64 `json:"first"`
	Last  int64 `json:"last"`
}

// Groups lists every log group, by name.
func (im *Importer) Groups(ctx context.Context) ([]Group, error) {
	rs, err := im.db.DB().QueryContext(ctx, `
		SELECT f.log_group, coalesce(r.records, 0), coalesce(r.streams, 0), f.files, f.bytes, r.first, r.last
		FROM (SELECT log_group, count(*) AS files, sum(bytes) AS bytes FROM flowlog_files GROUP BY log_group) f
		LEFT JOIN (SELECT log_group, count(*) AS records, count(DISTINCT log_stream) AS streams,
		                  min(start) AS first, max(start) AS last
		           FROM `+Table+` GROUP BY log_group) r USING (log_group)
		ORDER BY f.log_group`)
	if err != nil {
		return nil, fmt.Errorf("list log groups: %w", err)
	}
	defer rs.Close()
	var out []Group
	for rs.Next() {
		var g Group
		var first, last sql.NullInt64
		if err := rs.Scan(&g.Name, &g.Records, &g.Streams, &g.Files, &g.Bytes, &first, &last); err != nil {
			return nil, fmt.Errorf("list log groups: %w", err)
		}
		g.First, g.Last = first.Int64, last.Int64
		out = append(out, g)
	}
	return out, rs.Err()
}

// checkGroupPath refuses group (and stream) names with a "." or ".." part:
// a group is addressed as /api/v1/logs/{group}, where clients and the
// server's mux resolve such parts, so its files could never be read back
// by URL.
func checkGroupPath(name string) error {
	if pathseg.Dot(name) {
		return fmt.Errorf("%w: %q: no \".\" or \"..\" between slashes (URLs cannot carry them)", ErrGroup, clip(name))
	}
	return nil
}
