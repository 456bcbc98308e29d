package flow

import (
	"reflect"
	"testing"
)

// TestCountersOperationsCoverEveryField sets each field of Counters alone
// and checks that the per-field operations see it: every uint64 field is
// a named total that AddTotals adds, SubTotals subtracts and EachTotal
// visits; every Latency field is merged by Add. A counter added to the
// struct but not to the operations fails here.
func TestCountersOperationsCoverEveryField(t *testing.T) {
	typ := reflect.TypeOf(Counters{})
	totals := 0
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		switch f.Type {
		case reflect.TypeOf(uint64(0)):
			totals++
			var one, sum Counters
			reflect.ValueOf(&one).Elem().Field(i).SetUint(7)
			sum.AddTotals(&one)
			sum.AddTotals(&one)
			if got := reflect.ValueOf(sum).Field(i).Uint(); got != 14 {
				t.Errorf("AddTotals: %s is %d after adding 7 twice", f.Name, got)
			}
			sum.SubTotals(&one)
			if got := reflect.ValueOf(sum).Field(i).Uint(); got != 7 {
				t.Errorf("SubTotals: %s is %d, want 7", f.Name, got)
			}
			var full Counters
			full.Add(&one)
			if got := reflect.ValueOf(full).Field(i).Uint(); got != 7 {
				t.Errorf("Add: %s is %d, want 7", f.Name, got)
			}
			seen := 0
			one.EachTotal(func(name string, v uint64) {
				if v == 7 {
					seen++
				}
			})
			if seen != 1 {
				t.Errorf("EachTotal visits %s %d times, want once", f.Name, seen)
			}
		case reflect.TypeOf(Latency{}):
			var one, sum Counters
			reflect.ValueOf(&one).Elem().Field(i).Addr().Interface().(*Latency).Observe(1500)
			sum.Add(&one)
			if got := reflect.ValueOf(sum).Field(i).Interface().(Latency); got.Count != 1 || got.SumUS != 1500 {
				t.Errorf("Add does not merge %s: %+v", f.Name, got)
			}
		default:
			t.Errorf("Counters.%s has type %s, which the per-field operations do not handle", f.Name, f.Type)
		}
	}
	if totals != len(TotalNames) {
		t.Errorf("%d total fields, %d names in TotalNames", totals, len(TotalNames))
	}
}

// TestTotalNamesMatchFields pins the name of each total to its field.
func TestTotalNamesMatchFields(t *testing.T) {
	c := Counters{BytesSent: 1, BytesReceived: 2, SegmentsSent: 3, SegmentsReceived: 4, Retransmissions: 5, Timeouts: 6,
		ConnectionsOpened: 7, ConnectionsClosed: 8, FailedRefused: 9, FailedTimeout: 10, FailedReset: 11}
	got := map[string]uint64{}
	c.EachTotal(func(name string, v uint64) { got[name] = v })
	want := map[string]uint64{"bytes_sent": 1, "bytes_received": 2, "segments_sent": 3, "segments_received": 4,
		"retransmissions": 5, "timeouts": 6, "connections_opened": 7, "connections_closed": 8,
		"failed_refused": 9, "failed_timeout": 10, "failed_reset": 11}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("EachTotal %v\nwant %v", got, want)
	}
}
