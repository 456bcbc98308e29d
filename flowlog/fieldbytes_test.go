package flowlog

import (
	"errors"
	"net/netip"
	"testing"
)

func TestBatchAccessorsReturnFieldsWithoutCopy(t *testing.T) {
	b := NewBatch(Default, false)
	lines := []string{
		"2 123456789012 eni-0a 10.0.1.5 192.168.0.255 49152 443 6 10 840 1700000000 1700000060 ACCEPT OK",
		"2 123456789012 eni-0b 2001:db8::1 2001:db8::2 - - 58 1 64 1700000000 1700000060 REJECT OK",
		"2 123456789012 - - - - - - - - 1700000000 1700000060 - NODATA",
	}
	for _, l := range lines {
		if err := b.AppendLine([]byte(l)); err != nil {
			t.Fatal(err)
		}
	}
	const iface, src, dst, sport, proto, bytes = 2, 3, 4, 5, 7, 9
	tests := []struct {
		row        int
		iface      string // "" for NULL
		src, dst   string // "" for no address
		sport      int64
		sportValid bool
		proto      int64
		bytes      int64
	}{
		{0, "eni-0a", "10.0.1.5", "192.168.0.255", 49152, true, 6, 840},
		{1, "eni-0b", "2001:db8::1", "2001:db8::2", 0, false, 58, 64},
		{2, "", "", "", 0, false, 0, 0},
	}
	for _, tt := range tests {
		got, ok := b.Bytes(tt.row, iface)
		if !ok || string(got) != tt.iface || (tt.iface == "") != (got == nil) {
			t.Errorf("row %d: Bytes(interface-id) = %q, %v; want %q", tt.row, got, ok, tt.iface)
		}
		for _, f := range []struct {
			k    int
			want string
		}{{src, tt.src}, {dst, tt.dst}} {
			a, ok := b.Addr(tt.row, f.k)
			if ok != (f.want != "") || (ok && a != netip.MustParseAddr(f.want)) {
				t.Errorf("row %d: Addr(%d) = %v, %v; want %q", tt.row, f.k, a, ok, f.want)
			}
		}
		if v, ok := b.Int(tt.row, sport); v != tt.sport || ok != tt.sportValid {
			t.Errorf("row %d: Int(srcport) = %d, %v; want %d, %v", tt.row, v, ok, tt.sport, tt.sportValid)
		}
		if v, _ := b.Int(tt.row, proto); v != tt.proto {
			t.Errorf("row %d: Int(protocol) = %d, want %d", tt.row, v, tt.proto)
		}
		if v, _ := b.Int(tt.row, bytes); v != tt.bytes {
			t.Errorf("row %d: Int(bytes) = %d, want %d (an Int64 field)", tt.row, v, tt.bytes)
		}
	}
	if _, ok := b.Bytes(0, sport); ok {
		t.Error("Bytes of an integer field: ok, want false")
	}
	if _, ok := b.Int(0, iface); ok {
		t.Error("Int of a string field: ok, want false")
	}
	if _, ok := b.Addr(0, 0); ok {
		t.Error("Addr of an integer field: ok, want false")
	}
}

func TestAddrAcceptsWhatNetipAccepts(t *testing.T) {
	for _, s := range []string{
		"0.0.0.0", "255.255.255.255", "10.0.0.1", "1.2.3.4",
		"256.0.0.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "1..3.4", ".1.2.3", "1.2.3.", "1.2.3.-4",
		"1.2.3.4x", "::ffff:1.2.3.4", "fe80::1%eth0", "", "-", "10.0.0.0000001",
	} {
		checkAddrLikeNetip(t, s)
	}
}

func checkAddrLikeNetip(t *testing.T, s string) {
	t.Helper()
	b := NewBatch(Default, false)
	line := "2 1 eni-1 " + s + " 10.0.0.1 1 2 6 1 1 1 1 ACCEPT OK"
	if err := b.AppendLine([]byte(line)); err != nil {
		return // not one field: nothing for Addr to read
	}
	got, ok := b.Addr(0, 3)
	want, err := netip.ParseAddr(s)
	if s == "-" { // NULL
		err = errNull
	}
	if ok != (err == nil) || got != want && err == nil {
		t.Errorf("Addr(%q) = %v, %v; netip.ParseAddr: %v, %v", s, got, ok, want, err)
	}
}

var errNull = errors.New("NULL") // a NULL is no address

func FuzzBatchAddr(f *testing.F) {
	for _, s := range []string{"10.0.0.1", "255.255.255.255", "01.1.1.1", "2001:db8::1", "1.2.3.256"} {
		f.Add(s)
	}
	f.Fuzz(checkAddrLikeNetip)
}
