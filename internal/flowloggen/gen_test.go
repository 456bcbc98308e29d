package flowloggen_test

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/flowlens/flowlens/flowlog"
	"github.com/flowlens/flowlens/internal/flowloggen"
)

// The header this package writes is the default format's.
func TestHeaderIsDefaultFormat(t *testing.T) {
	if flowloggen.Header != flowlog.Default.Names() {
		t.Errorf("Header %q, want %q", flowloggen.Header, flowlog.Default.Names())
	}
}

// Every generated record parses in the default format, header first when
// asked, and the same seed gives the same file.
func TestGeneratedRecordsParse(t *testing.T) {
	var a, b bytes.Buffer
	if err := flowloggen.Generate(&a, flowloggen.GenConfig{Records: 3000, Seed: 5, Header: true}); err != nil {
		t.Fatal(err)
	}
	flowloggen.Generate(&b, flowloggen.GenConfig{Records: 3000, Seed: 5, Header: true})
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("the same seed generated different files")
	}
	sc := bufio.NewScanner(&a)
	sc.Scan()
	if !flowlog.IsHeader(sc.Bytes()) {
		t.Fatalf("first line %q is not a header", sc.Text())
	}
	batch := flowlog.NewBatch(flowlog.Default, false)
	for sc.Scan() {
		if err := batch.AppendLine(sc.Bytes()); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
	}
	if batch.Len() != 3000 {
		t.Errorf("%d records, want 3000", batch.Len())
	}
}
