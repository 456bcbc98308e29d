package flowlog

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// RetentionDays are the retention periods CloudWatch Logs accepts for a
// log group (PutRetentionPolicy, retentionInDays); no period is "never
// expire", CloudWatch's default.
var RetentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// ErrRetention marks a retention period CloudWatch would refuse.
var ErrRetention = errors.New("bad retention period")

// CheckRetention accepts the CloudWatch values (and 0: never expire).
func CheckRetention(days int) error {
	if days == 0 || slices.Contains(RetentionDays, days) {
		return nil
	}
	return fmt.Errorf("%w: %d days: want one of %v, or never", ErrRetention, days, RetentionDays)
}

// RetentionCutoff is where a group keeping days days of records deletes:
// records whose timestamp is before it go, in whole UTC days (the start
// of the day that now - days falls in), so that no record younger than
// the period is deleted and the storage drops a whole day at a time
// rather than rewriting its tables at every maintenance.
func RetentionCutoff(now time.Time, days int) time.Time {
	return now.UTC().Add(-time.Duration(days) * 24 * time.Hour).Truncate(24 * time.Hour)
}
