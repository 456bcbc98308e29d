package flowlog

import (
	"net/netip"
	"strings"
	"testing"
)

func TestScannerReturnsFieldsWithoutCopy(t *testing.T) {
	const iface, src, dst, sport, proto, bytes = 2, 3, 4, 5, 7, 9
	tests := []struct {
		line       string
		iface      string // "" for NULL
		src, dst   string // "" for no address
		sport      int64
		sportValid bool
		proto      int64
		bytes      int64
	}{
		{"2 123456789012 eni-0a 10.0.1.5 192.168.0.255 49152 443 6 10 840 1700000000 1700000060 ACCEPT OK\r",
			"eni-0a", "10.0.1.5", "192.168.0.255", 49152, true, 6, 840},
		{"2 123456789012 eni-0b 2001:db8::1 2001:db8::2 - - 58 1 64 1700000000 1700000060 REJECT OK",
			"eni-0b", "2001:db8::1", "2001:db8::2", 0, false, 58, 64},
		{"2  123456789012\t- - - - - - - - 1700000000 1700000060 - NODATA",
			"", "", "", 0, false, 0, 0},
	}
	s := NewScanner(Default)
	for _, tt := range tests {
		if err := s.Scan([]byte(tt.line)); err != nil {
			t.Fatalf("Scan(%q): %v", tt.line, err)
		}
		got, ok := s.Bytes(iface)
		if !ok || string(got) != tt.iface || (tt.iface == "") != (got == nil) {
			t.Errorf("%q: Bytes(interface-id) = %q, %v; want %q", tt.line, got, ok, tt.iface)
		}
		for _, f := range []struct {
			k    int
			want string
		}{{src, tt.src}, {dst, tt.dst}} {
			a, ok := s.Addr(f.k)
			if ok != (f.want != "") || (ok && a != netip.MustParseAddr(f.want)) {
				t.Errorf("%q: Addr(%d) = %v, %v; want %q", tt.line, f.k, a, ok, f.want)
			}
		}
		if v, ok := s.Int(sport); v != tt.sport || ok != tt.sportValid {
			t.Errorf("%q: Int(srcport) = %d, %v; want %d, %v", tt.line, v, ok, tt.sport, tt.sportValid)
		}
		if v, _ := s.Int(proto); v != tt.proto {
			t.Errorf("%q: Int(protocol) = %d, want %d", tt.line, v, tt.proto)
		}
		if v, _ := s.Int(bytes); v != tt.bytes {
			t.Errorf("%q: Int(bytes) = %d, want %d (an Int64 field)", tt.line, v, tt.bytes)
		}
	}
	if _, ok := s.Bytes(sport); ok {
		t.Error("Bytes of an integer field: ok, want false")
	}
	if _, ok := s.Int(iface); ok {
		t.Error("Int of a string field: ok, want false")
	}
	if _, ok := s.Addr(0); ok {
		t.Error("Addr of an integer field: ok, want false")
	}
}

// checkScannerLikeAppendLine: Scan refuses exactly what AppendLine
// refuses, with the same error, and returns the same values.
func checkScannerLikeAppendLine(t *testing.T, f *Format, line string) {
	t.Helper()
	b := NewBatch(f, false)
	s := NewScanner(f)
	errB := b.AppendLine([]byte(line))
	errS := s.Scan([]byte(line))
	if (errB == nil) != (errS == nil) || errB != nil && errB.Error() != errS.Error() {
		t.Fatalf("%q: AppendLine: %v; Scan: %v", line, errB, errS)
	}
	if errB != nil {
		return
	}
	for k := range f.Len() {
		want := b.Value(0, k)
		switch f.Field(k).Type {
		case String:
			got, _ := s.Bytes(k)
			if w, _ := want.(string); string(got) != w || (want == nil) != (got == nil) {
				t.Errorf("%q field %d: Bytes %q, Value %#v", line, k, got, want)
			}
			a, ok := s.Addr(k)
			w, _ := want.(string)
			wa, err := netip.ParseAddr(w)
			if ok != (want != nil && err == nil) || ok && a != wa {
				t.Errorf("%q field %d: Addr %v, %v; netip.ParseAddr %v, %v", line, k, a, ok, wa, err)
			}
		default:
			got, ok := s.Int(k)
			var w int64
			switch v := want.(type) {
			case int32:
				w = int64(v)
			case int64:
				w = v
			}
			if ok != (want != nil) || got != w {
				t.Errorf("%q field %d: Int %d, %v; Value %#v", line, k, got, ok, want)
			}
		}
	}
}

func TestScannerRefusesWhatAppendLineRefuses(t *testing.T) {
	custom, err := ParseFormat("${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${action} ${start} ${tcp-flags}")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		f    *Format
		line string
	}{
		{Default, "2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 1 ACCEPT OK"},
		{Default, "2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 ACCEPT OK"},             // a field short
		{Default, "2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 1 ACCEPT OK extra"},     // a field too many
		{Default, "2 1 eni-1 10.0.0.1 10.0.0.2 1 2 x 1 1 1 1 ACCEPT OK"},           // protocol not a number
		{Default, "2 1 eni-1 10.0.0.1 10.0.0.2 2147483648 2 6 1 1 1 1 ACCEPT OK"},  // over int32
		{Default, "2 1 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 99999999999 ACCEPT OK"}, // end in the future
		{Default, "2 1 eni-1 256.1.1.1 01.2.3.4 - - - - - - - - -"},
		{custom, "eni-1 fe80::1%eth0 ::ffff:10.0.0.1 1 2 6 REJECT 1 2"},
		{custom, ""},
	} {
		checkScannerLikeAppendLine(t, tc.f, tc.line)
	}
}

func FuzzScanner(f *testing.F) {
	for _, s := range []string{
		"2 123456789012 eni-0a 10.0.1.5 192.168.0.255 49152 443 6 10 840 1700000000 1700000060 ACCEPT OK",
		"2 1 eni-1 01.2.3.4 1.2.3.256 - - - - - - - - NODATA",
		"2 1 eni-1 2001:db8::1 ::ffff:1.2.3.4 1 2 3 4 5 6 7 REJECT OK\r",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if strings.ContainsAny(line, "\n") {
			return // one record per line
		}
		checkScannerLikeAppendLine(t, Default, line)
	})
}
