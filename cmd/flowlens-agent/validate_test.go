package main

import (
	"strings"
	"testing"
	"time"
)

func TestValidateCollectorLimits(t *testing.T) {
	ok := config{interval: 30 * time.Second, mode: "auto", hostID: "h", reportCap: 1, maxFlows: 4096, pollInterval: time.Second}
	cases := []struct {
		name    string
		change  func(*config)
		wantErr string
	}{
		{"defaults", func(*config) {}, ""},
		{"max-flows 0", func(c *config) { c.maxFlows = 0 }, "--max-flows"},
		{"max-flows too many", func(c *config) { c.maxFlows = 1<<20 + 1 }, "--max-flows"},
		{"max-flows 1", func(c *config) { c.maxFlows = 1 }, ""},
		{"poll-interval too short", func(c *config) { c.pollInterval = 10 * time.Millisecond }, "--poll-interval"},
		{"poll-interval too long", func(c *config) { c.pollInterval = 2 * time.Minute }, "--poll-interval"},
		{"poll-interval 5s", func(c *config) { c.pollInterval = 5 * time.Second }, ""},
	}
	for _, tc := range cases {
		c := ok
		tc.change(&c)
		err := c.validate()
		if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: validate() = %v, want an error naming %q", tc.name, err, tc.wantErr)
		}
	}
}
