package main

import (
	"slices"
	"testing"
	"time"
)

func TestParseRatesSweep(t *testing.T) {
	cases := []struct {
		in      string
		want    []int
		wantErr bool
	}{
		{"1000", []int{1000}, false},
		{"100,1000,5000", []int{100, 1000, 5000}, false},
		{" 100 , 200", []int{100, 200}, false},
		{"0", nil, true},
		{"100,x", nil, true},
		{"", nil, true},
		{"200000", nil, true},
	}
	for _, tc := range cases {
		got, err := parseRates(tc.in)
		if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
			t.Errorf("parseRates(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestOpsInWindow(t *testing.T) {
	o := options{rate: 1000, conns: 10_000, period: time.Second, duration: 20 * time.Second}
	if got := o.opsIn("short"); got != 20_000 {
		t.Errorf("short: %v connections, want 20000", got)
	}
	if got := o.opsIn("long"); got != 200_000 {
		t.Errorf("long: %v exchanges, want 200000", got)
	}
}
