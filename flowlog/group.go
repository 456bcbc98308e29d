package flowlog

import (
	"errors"
	"fmt"
	"time"

	"github.com/flowlens/flowlens/internal/pathseg"
)

// Table is what queries read: one row per stored record, with one column
// per Field (named Field.Column, NULL where the record has "-") plus
// log_group, log_stream, file_id and format_id. Every record storage
// provides it under this name (in DuckDB, a view over the physical tables).
const Table = "flowlog_records"

// ErrGroup marks a log group or stream name that cannot be used.
var ErrGroup = errors.New("bad log group name")

// CheckGroup validates a log group or stream name: 1-512 characters, no
// control characters (AWS allows a-z A-Z 0-9 _ - / . # and more).
func CheckGroup(name string) error {
	if name == "" || len(name) > 512 {
		return fmt.Errorf("%w: %q must be 1-512 characters", ErrGroup, clip(name))
	}
	for _, c := range name {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w: %q has control characters", ErrGroup, clip(name))
		}
	}
	return checkGroupPath(name)
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
	// RetentionDays is how long the group keeps records (a CloudWatch
	// value, see RetentionDays); 0 (absent in JSON) keeps them forever.
	RetentionDays int `json:"retention_days,omitempty"`
}

// FileInfo is one imported file.
type FileInfo struct {
	ID         uint32    `json:"id"`
	Group      string    `json:"group"`
	Source     string    `json:"source"`
	SHA256     string    `json:"sha256"`
	Records    int64     `json:"records"`
	BadLines   int64     `json:"bad_lines"`
	Bytes      int64     `json:"bytes"`
	ImportedAt time.Time `json:"imported_at"`
}
