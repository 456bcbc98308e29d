package flowlog

import (
	"errors"
	"strings"
	"testing"
)

func TestParseFormat(t *testing.T) {
	cases := []struct {
		in      string
		names   string
		version int
		err     string
	}{
		{DefaultFormat, "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status", 2, ""},
		{"  ${srcaddr}   ${dstaddr}\t${vpc-id} ", "srcaddr dstaddr vpc-id", 3, ""},
		{"${region} ${az-id}", "region az-id", 4, ""},
		{"${flow-direction} ${traffic-path}", "flow-direction traffic-path", 5, ""},
		{"${ecs-task-id}", "ecs-task-id", 7, ""},
		{"${reject-reason}", "reject-reason", 8, ""},
		{"${srcaddr} ${resource-id} ${encryption-status}", "srcaddr resource-id encryption-status", 8, ""},
		{"", "", 0, "no fields"},
		{"   ", "", 0, "no fields"},
		{"${srcaddr} ${bogus}", "", 0, `field 2: unknown field "bogus"`},
		{"${srcAddr}", "", 0, `unknown field "srcAddr" (did you mean "srcaddr"?)`},
		{"${account_id}", "", 0, `(did you mean "account-id"?)`},
		{"${srcaddr} ${srcaddr}", "", 0, `field 2: "srcaddr" given twice`},
		{"${srcaddr}${dstaddr}", "", 0, "column 1: want a space after"},
		{"srcaddr dstaddr", "", 0, `column 1: want ${field}, found "srcaddr dstaddr"`},
		{"${srcaddr} ${dstaddr", "", 0, "column 12: unterminated"},
	}
	for _, c := range cases {
		f, err := ParseFormat(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, ErrFormat) {
				t.Errorf("%q: error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if f.Names() != c.names || f.Version() != c.version {
			t.Errorf("%q: %q v%d, want %q v%d", c.in, f.Names(), f.Version(), c.names, c.version)
		}
		if g, err := ParseFormat(f.String()); err != nil || !g.Equal(f) {
			t.Errorf("%q: String() %q does not parse back: %v", c.in, f.String(), err)
		}
	}
}

func TestHeader(t *testing.T) {
	if !IsHeader([]byte(Default.Names())) || !IsHeader([]byte("version  srcaddr\r")) {
		t.Error("header not recognized")
	}
	for _, r := range referenceRecords {
		if IsHeader([]byte(r.line)) {
			t.Errorf("record taken for a header: %s", r.line)
		}
	}
	f, err := ParseHeader("version vpc-id srcaddr")
	if err != nil || f.Version() != 3 || f.String() != "${version} ${vpc-id} ${srcaddr}" {
		t.Errorf("%v %v", f, err)
	}
	if _, err := ParseHeader("version bogus"); err == nil {
		t.Error("unknown header field accepted")
	}
}

func FuzzParseFormat(f *testing.F) {
	f.Add(DefaultFormat)
	f.Add("${srcaddr} ${tcp-flags}")
	f.Add("${a")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		fm, err := ParseFormat(s)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error without ErrFormat: %v", err)
			}
			return
		}
		if fm.Len() == 0 || fm.Len() > len(Fields) {
			t.Fatalf("%d fields", fm.Len())
		}
		g, err := ParseFormat(fm.String())
		if err != nil || !g.Equal(fm) {
			t.Fatalf("round trip of %q: %v", fm.String(), err)
		}
		h, err := ParseHeader(fm.Names())
		if err != nil || !h.Equal(fm) {
			t.Fatalf("header round trip of %q: %v", fm.Names(), err)
		}
	})
}

// Stored columns (Parquet as AWS delivers it) name fields with '_' or '-';
// an unknown or repeated column is a format error naming it.
func TestColumnsFormat(t *testing.T) {
	cases := []struct {
		cols  []string
		names string
		err   string
	}{
		{[]string{"version", "account_id", "pkt-src-aws-service", "end"}, "version account-id pkt-src-aws-service end", ""},
		{[]string{"srcaddr", "colour"}, "", `column "colour": bad flow-log format: unknown field`},
		{[]string{"srcAddr"}, "", `column "srcAddr": bad flow-log format: unknown field (did you mean "srcaddr"?)`},
		{[]string{"start", "start"}, "", `columns: bad flow-log format: field 2: "start" given twice`},
		{nil, "", "columns: bad flow-log format: no fields"},
	}
	for _, c := range cases {
		f, err := ColumnsFormat(c.cols)
		if c.err != "" {
			if err == nil || err.Error() != c.err || !errors.Is(err, ErrFormat) {
				t.Errorf("%q: error %v, want %q", c.cols, err, c.err)
			}
			continue
		}
		if err != nil || f.Names() != c.names {
			t.Errorf("%q: %v %v, want %q", c.cols, f, err, c.names)
		}
	}
}

func TestFormatPosition(t *testing.T) {
	f, err := ParseFormat("${srcaddr} ${interface-id} ${start}")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"srcaddr": 0, "interface-id": 1, "start": 2, "version": -1, "bogus": -1} {
		if got := f.Position(name); got != want {
			t.Errorf("Position(%q) = %d, want %d", name, got, want)
		}
	}
}
