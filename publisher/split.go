package publisher

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
)

// splitState records a 413 in progress: the queue head orig was replaced by
// smaller pieces, each a report with its own new sequence number. It is kept
// on disk (fsynced) before any piece is sent, so that after a restart the
// same pieces with the same sequence numbers are sent again: splitting anew
// would give new numbers to flows the server already stored and count them
// twice. The file stays until the queue head moves past orig, so that a
// replayed orig whose pieces were all delivered is recognised and skipped.
type splitState struct {
	orig   uint64
	pieces []item // not yet resolved, in sending order
	made   int    // pieces orig was cut into so far, resolved ones included
}

// encodeSplit lays out: crc32c, orig, piece count, one spool record per
// piece, then the pieces made so far (uint32; files written before the
// split bound lack it).
func encodeSplit(st *splitState) []byte {
	b := make([]byte, 4, 16)
	b = binary.LittleEndian.AppendUint64(b, st.orig)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(st.pieces)))
	for _, it := range st.pieces {
		b = appendRecord(b, it.seq, it.data)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(st.made))
	binary.LittleEndian.PutUint32(b, crc32.Checksum(b[4:], castagnoli()))
	return b
}

func decodeSplit(b []byte) (*splitState, error) {
	if len(b) < 16 {
		return nil, errShortRecord
	}
	if crc32.Checksum(b[4:], castagnoli()) != binary.LittleEndian.Uint32(b) {
		return nil, errCorruptRecord
	}
	st := &splitState{orig: binary.LittleEndian.Uint64(b[4:])}
	n := binary.LittleEndian.Uint32(b[12:])
	rest := b[16:]
	for range n {
		seq, payload, size, err := decodeRecord(rest)
		if err != nil {
			return nil, err
		}
		st.pieces = append(st.pieces, item{seq: seq, data: payload})
		rest = rest[size:]
	}
	switch len(rest) {
	case 0:
		st.made = len(st.pieces)
	case 4:
		st.made = int(binary.LittleEndian.Uint32(rest))
	default:
		return nil, errCorruptRecord
	}
	return st, nil
}

// loadSplit reads the split state; nil when there is none.
func loadSplit(path string) (*splitState, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read split state: %w", err)
	}
	st, err := decodeSplit(b)
	if err != nil {
		return nil, fmt.Errorf("split state %s: %w", path, err)
	}
	return st, nil
}

func saveSplit(path string, st *splitState) error {
	if err := writeFileAtomic(path, encodeSplit(st)); err != nil {
		return fmt.Errorf("save split state: %w", err)
	}
	return nil
}

func removeSplit(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove split state: %w", err)
	}
	return nil
}
