package publisher

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
)

// The epoch is the spool's key space on the server: the server's
// idempotency key is (agent id, epoch, sequence). It is drawn at random
// once per spool directory and kept in SPOOL_DIR/epoch, and Publish stamps
// it on every report. An agent whose spool was lost (a re-imaged host, a
// second simulator run) restarts at sequence 1 but in a new epoch, so the
// server cannot take its reports for replays of ones it already has.
//
// A report keeps the epoch it was published with: spooled reports and
// split pieces are sent with the bytes they were queued as. So losing or
// damaging the file only costs a new key space for new reports, never a
// collision, and the publisher simply draws a new one.

// newEpoch draws a random non-zero epoch (0 means "no epoch": an agent
// from before epochs).
func newEpoch() uint64 {
	var b [8]byte
	for {
		rand.Read(b[:])
		if e := binary.LittleEndian.Uint64(b[:]); e != 0 {
			return e
		}
	}
}

// loadEpoch reads the spool's epoch, or draws one and writes it durably
// (write, fsync, rename) before any report can carry it.
func loadEpoch(path string, log *slog.Logger) (uint64, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if e, perr := strconv.ParseUint(strings.TrimSpace(string(b)), 16, 64); perr == nil && e != 0 {
			return e, nil
		}
		log.Warn("spool epoch file unreadable; drawing a new epoch (new reports start a new key space on the server; queued ones keep theirs)",
			"file", path)
	case errors.Is(err, fs.ErrNotExist):
	default:
		return 0, fmt.Errorf("read spool epoch: %w", err)
	}
	e := newEpoch()
	if err := writeFileAtomic(path, []byte(fmt.Sprintf("%016x\n", e))); err != nil {
		return 0, fmt.Errorf("save spool epoch: %w", err)
	}
	log.Info("new spool: drew its idempotency epoch", "file", path, "epoch", fmt.Sprintf("%016x", e))
	return e, nil
}
