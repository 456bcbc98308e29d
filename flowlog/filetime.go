package flowlog

import (
	"strings"
	"time"
)

// FileTime is the time in the name of a file AWS delivered to S3
// ("aws_account_id_vpcflowlogs_region_flow_log_id_YYYYMMDDTHHmmZ_hash.log.gz",
// AWS "Flow log files" / "Log file delivery to Amazon S3"): the end of the
// five minutes whose records the file holds, in Unix seconds. It reads the
// last "_YYYYMMDDTHHmmZ_" of the base name; ok is false when there is none
// or it is not a valid time. Records without start or end take it as
// their timestamp.
func FileTime(name string) (unixSec int64, ok bool) {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	const layout = "20060102T1504Z"
	for end := len(name); end > 0; {
		i := strings.LastIndexByte(name[:end], 'Z')
		if i < len(layout)-1 {
			return 0, false
		}
		start := i + 1 - len(layout)
		if start >= 1 && name[start-1] == '_' && i+1 < len(name) && name[i+1] == '_' {
			if t, err := time.Parse(layout, name[start:i+1]); err == nil {
				return t.Unix(), true
			}
		}
		end = i
	}
	return 0, false
}
