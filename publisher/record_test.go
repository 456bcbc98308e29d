package publisher

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzSpoolRecord feeds arbitrary bytes to the spool record decoder, as a
// damaged disk would: it must never panic or over-read, and whatever it
// accepts must re-encode to the same bytes.
func FuzzSpoolRecord(f *testing.F) {
	f.Add(appendRecord(nil, 1, []byte("report")))
	f.Add(appendRecord(nil, 1<<63, nil))
	f.Add(appendRecord(nil, 7, bytes.Repeat([]byte{0xab}, 300))[:100])
	f.Add(make([]byte, recordHeaderSize))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		seq, payload, size, err := decodeRecord(b)
		if err != nil {
			if !errors.Is(err, errShortRecord) && !errors.Is(err, errCorruptRecord) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if size > len(b) || size != recordHeaderSize+len(payload) {
			t.Fatalf("size %d for %d input bytes and %d payload bytes", size, len(b), len(payload))
		}
		if again := appendRecord(nil, seq, payload); !bytes.Equal(again, b[:size]) {
			t.Fatalf("re-encoding differs:\n%x\n%x", again, b[:size])
		}
		var buf []byte
		rseq, rsize, err := readRecord(bytes.NewReader(b), &buf)
		if err != nil || rseq != seq || rsize != int64(size) {
			t.Fatalf("streaming reader disagrees: %d %d %v", rseq, rsize, err)
		}
	})
}

func TestDecodeRecordRejects(t *testing.T) {
	good := appendRecord(nil, 9, []byte("abc"))
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, errShortRecord},
		{"short header", good[:10], errShortRecord},
		{"short payload", good[:len(good)-1], errShortRecord},
		{"zeros", make([]byte, 32), errCorruptRecord},
		{"huge length", append([]byte{0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f}, make([]byte, 8)...), errCorruptRecord},
		{"flipped sequence", flip(good, 9), errCorruptRecord},
		{"flipped length", flip(good, 4), errCorruptRecord},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, _, err := decodeRecord(tc.b); !errors.Is(err, tc.want) {
				t.Fatalf("decodeRecord: %v, want %v", err, tc.want)
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0x01
	return b
}
