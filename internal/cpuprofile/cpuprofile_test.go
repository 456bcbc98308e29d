package cpuprofile

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestStartWritesAProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.prof")
	stop, err := Start(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for i := range 20_000_000 {
		x += i % 7
	}
	_ = x
	stop()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A pprof profile is a gzipped protocol buffer naming its sample types.
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not gzipped: %v", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil || !bytes.Contains(raw, []byte("samples")) || !bytes.Contains(raw, []byte("cpu")) {
		t.Fatalf("not a CPU profile (%d bytes, %v)", len(raw), err)
	}
}

func TestStartWithoutPathDoesNothing(t *testing.T) {
	stop, err := Start("", 0)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if _, err := Start(filepath.Join(t.TempDir(), "no", "such", "dir", "p"), 0); err == nil {
		t.Fatal("an unwritable path was accepted")
	}
}
