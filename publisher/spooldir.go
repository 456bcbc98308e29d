package publisher

import "strings"

// The names the publisher creates directly in its spool directory.
const (
	spoolSequence = "sequence" // reserved sequence numbers
	spoolEpoch    = "epoch"    // the spool's idempotency epoch
	spoolSplit    = "split"    // pieces of a report split after a 413
	spoolSegments = "spool"    // the directory of spooled reports
)

// OwnsSpoolEntry says whether name, an entry directly in a spool directory,
// is one the publisher creates: the state files, their ".tmp" while they are
// rewritten (writeFile), and the segment directory. The agent hands its
// spool directory to its unprivileged user only when it holds nothing else.
func OwnsSpoolEntry(name string) bool {
	switch strings.TrimSuffix(name, ".tmp") {
	case spoolSequence, spoolEpoch, spoolSplit:
		return true
	}
	return name == spoolSegments
}
