package publisher

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// A spool record is
//
//	crc32c  uint32 LE  over everything after it (length, sequence, payload)
//	length  uint32 LE  payload length
//	seq     uint64 LE  the report's sequence number
//	payload []byte     proto.Marshal(Report)
//
// The sequence is repeated outside the payload so that the queue can compare
// heads and recover the highest sequence without unmarshalling reports. The
// CRC covers the length, so a torn or zeroed header is caught as well as a
// torn payload.
const (
	recordHeaderSize = 16
	// maxRecordPayload bounds what a length field may claim, so that a
	// corrupt header cannot make the reader allocate gigabytes.
	maxRecordPayload = 64 << 20
)

// Errors from decodeRecord. errShortRecord means the bytes end inside the
// record (a torn tail); errCorruptRecord means they are not a record.
var (
	errShortRecord   = errors.New("spool record truncated")
	errCorruptRecord = errors.New("spool record corrupt")
)

// castagnoli returns the CRC-32C table; crc32 caches it after the first call.
func castagnoli() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) }

// appendRecord appends the encoded record to dst.
func appendRecord(dst []byte, seq uint64, payload []byte) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, 0) // CRC, filled in below
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	dst = binary.LittleEndian.AppendUint64(dst, seq)
	dst = append(dst, payload...)
	sum := crc32.Checksum(dst[start+4:], castagnoli())
	binary.LittleEndian.PutUint32(dst[start:], sum)
	return dst
}

// recordSize is the encoded size of a record with a payload of n bytes.
func recordSize(n int) int64 { return recordHeaderSize + int64(n) }

// parseRecordHeader checks the fixed header and returns the CRC, payload
// length and sequence it claims.
func parseRecordHeader(h []byte) (sum uint32, n int, seq uint64, err error) {
	if len(h) < recordHeaderSize {
		return 0, 0, 0, errShortRecord
	}
	sum = binary.LittleEndian.Uint32(h[0:4])
	length := binary.LittleEndian.Uint32(h[4:8])
	seq = binary.LittleEndian.Uint64(h[8:16])
	if length > maxRecordPayload {
		return 0, 0, 0, fmt.Errorf("%w: length %d over limit %d", errCorruptRecord, length, maxRecordPayload)
	}
	return sum, int(length), seq, nil
}

// checkRecord verifies the CRC of a full record whose header was parsed.
func checkRecord(sum uint32, rec []byte) error {
	if got := crc32.Checksum(rec[4:], castagnoli()); got != sum {
		return fmt.Errorf("%w: crc %08x, want %08x", errCorruptRecord, got, sum)
	}
	return nil
}

// decodeRecord decodes the record at the start of b. It returns the
// sequence, the payload (aliasing b) and the record's total size.
func decodeRecord(b []byte) (seq uint64, payload []byte, size int, err error) {
	sum, n, seq, err := parseRecordHeader(b)
	if err != nil {
		return 0, nil, 0, err
	}
	size = recordHeaderSize + n
	if len(b) < size {
		return 0, nil, 0, errShortRecord
	}
	if err := checkRecord(sum, b[:size]); err != nil {
		return 0, nil, 0, err
	}
	return seq, b[recordHeaderSize:size], size, nil
}
