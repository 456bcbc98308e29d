package flowlog

import (
	"errors"
	"strings"
	"testing"
	"time"
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
		{"${srcaddr} ${bogus}", "srcaddr bogus", 2, ""},
		{"${srcAddr}", "srcAddr", 2, ""},
		{"${account_id}", "account_id", 2, ""},
		{"${vpc-id} ${new-field-2030}", "vpc-id new-field-2030", 3, ""},
		{"${a;b}", "", 0, `field 1: "a;b" is not a field name`},
		{"${-x}", "", 0, `field 1: "-x" is not a field name`},
		{"${}", "", 0, `field 1: "" is not a field name`},
		{TGWDefaultFormat, "version resource-type account-id tgw-id tgw-attachment-id tgw-src-vpc-account-id tgw-dst-vpc-account-id tgw-src-vpc-id tgw-dst-vpc-id tgw-src-subnet-id tgw-dst-subnet-id tgw-src-eni tgw-dst-eni tgw-src-az-id tgw-dst-az-id tgw-pair-attachment-id srcaddr dstaddr srcport dstport protocol packets bytes start end log-status type packets-lost-no-route packets-lost-blackhole packets-lost-mtu-exceeded packets-lost-ttl-expired tcp-flags region flow-direction pkt-src-aws-service pkt-dst-aws-service", 6, ""},
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
	// A header naming a field AWS added later is still a header; a line
	// of words that are mostly not field names is not.
	for line, want := range map[string]bool{
		"version srcaddr dstaddr new-field":  true,
		"version bogus":                      false,
		"ingress egress":                     false,
		"version srcaddr New-Field":          false,
		"- eni-1235b8ca123456789 10.0.1.5 x": false,
	} {
		if IsHeader([]byte(line)) != want {
			t.Errorf("IsHeader(%q) = %v", line, !want)
		}
	}
	f, err = ParseHeader("version srcaddr new-field")
	if err != nil || f.UnknownWarning() == "" || !strings.Contains(f.UnknownWarning(), "new-field") {
		t.Errorf("%v %v", f, err)
	}
}

func TestUnknownFieldsKeptAsText(t *testing.T) {
	f, err := ParseFormat("${srcaddr} ${new-field} ${srcAddr} ${dstport}")
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Unknown(); len(got) != 2 || got[0] != "new-field" || got[1] != `srcAddr (did you mean "srcaddr"?)` {
		t.Errorf("Unknown() = %q", got)
	}
	for i, want := range []int{-1, 0, 1, -1} {
		if f.UnknownIndex(i) != want {
			t.Errorf("UnknownIndex(%d) = %d, want %d", i, f.UnknownIndex(i), want)
		}
	}
	if fd := f.Field(1); !fd.Unknown || fd.Type != String || fd.Query != "newField" || fd.Column != "" {
		t.Errorf("field 1: %+v", fd)
	}
	b := NewBatch(f, false)
	if err := b.AppendLine([]byte("10.0.0.1 some-value - 443")); err != nil {
		t.Fatal(err)
	}
	if b.Value(0, 1) != "some-value" || b.Value(0, 2) != nil || b.Value(0, 3) != int32(443) {
		t.Errorf("values %v %v %v", b.Value(0, 1), b.Value(0, 2), b.Value(0, 3))
	}
}

func TestTransitGatewayFields(t *testing.T) {
	f, err := ParseFormat(TGWDefaultFormat)
	if err != nil {
		t.Fatal(err)
	}
	if f.Len() != 36 || f.Version() != 6 || len(f.Unknown()) != 0 {
		t.Fatalf("%d fields, version %d, unknown %q", f.Len(), f.Version(), f.Unknown())
	}
	// AWS "Transit Gateway Flow Log records": the packets-lost counters
	// are INT_64, the tgw-* ids strings.
	want := map[string]Type{"packets-lost-no-route": Int64, "packets-lost-blackhole": Int64, "packets-lost-mtu-exceeded": Int64,
		"packets-lost-ttl-expired": Int64, "tgw-id": String, "resource-type": String, "tgw-pair-attachment-id": String}
	for name, typ := range want {
		fd, ok := FieldByName(name)
		if !ok || fd.Type != typ || fd.Version != 6 {
			t.Errorf("%s: %+v", name, fd)
		}
	}
	if fd, _ := FieldByName("packets-lost-no-route"); fd.Query != "packetsLostNoRoute" || fd.Column != "packets_lost_no_route" {
		t.Errorf("names: %+v", fd)
	}
	if Fields[BaseFields].Name != "resource-type" {
		t.Errorf("BaseFields = %d is not where the transit gateway fields start (%s)", BaseFields, Fields[BaseFields].Name)
	}
}

func TestFileTime(t *testing.T) {
	cases := []struct {
		name string
		want string // RFC 3339, "" for none
	}{
		// AWS "Flow log files": the example of June 20, 2018 at 16:20 UTC.
		{"AWSLogs/123456789012/vpcflowlogs/us-east-1/2018/06/20/123456789012_vpcflowlogs_us-east-1_fl-1234abcd_20180620T1620Z_fe123456.log.gz", "2018-06-20T16:20:00Z"},
		{"123456789012_vpcflowlogs_us-east-1_fl-1234abcd_20180620T1620Z_fe123456.log.parquet", "2018-06-20T16:20:00Z"},
		{`C:\logs\1_vpcflowlogs_r_fl-1_20240101T0005Z_ab.log`, "2024-01-01T00:05:00Z"},
		{"s3://b/x_20180620T1620Z_/y_20190101T0000Z_h.log", "2019-01-01T00:00:00Z"},
		{"flows.log", ""},
		{"x_20181320T1620Z_h.log", ""}, // month 13
		{"x20180620T1620Z_h.log", ""},  // no '_' before
		{"x_20180620T1620Z.log", ""},   // no '_' after
		{"Z", ""},
	}
	for _, c := range cases {
		got, ok := FileTime(c.name)
		if c.want == "" {
			if ok {
				t.Errorf("%s: %d, want none", c.name, got)
			}
			continue
		}
		w, _ := time.Parse(time.RFC3339, c.want)
		if !ok || got != w.Unix() {
			t.Errorf("%s: %d %v, want %s", c.name, got, ok, c.want)
		}
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
		{[]string{"srcaddr", "colour"}, "srcaddr colour", ""},
		{[]string{"srcAddr", "packets_lost_no_route", "new_field"}, "srcAddr packets-lost-no-route new-field", ""},
		{[]string{"srcaddr", "a b"}, "", `columns: bad flow-log format: field 2: "a b" is not a field name (letters, digits, '-' and '_', at most 64)`},
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

func FuzzFileTime(f *testing.F) {
	f.Add("123456789012_vpcflowlogs_us-east-1_fl-1234abcd_20180620T1620Z_fe123456.log.gz")
	f.Add("x_20181320T1620Z_h")
	f.Add("_Z_")
	f.Fuzz(func(t *testing.T, name string) {
		sec, ok := FileTime(name)
		if !ok {
			return
		}
		// A time read from a name is a whole minute in the name's layout.
		stamp := time.Unix(sec, 0).UTC().Format("20060102T1504Z")
		if sec%60 != 0 || !strings.Contains(name, "_"+stamp+"_") {
			t.Fatalf("%q: %d (%s) is not in the name", name, sec, stamp)
		}
	})
}
