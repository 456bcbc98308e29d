package ingest

import (
	"context"
	"testing"
)

func TestAgentAllowed(t *testing.T) {
	for _, tc := range []struct {
		glob    *string // nil: an admin token, no limit
		agentID string
		want    bool
	}{
		{nil, "anything", true},
		{ptr("*"), "web-1", true},
		{ptr("web-*"), "web-1", true},
		{ptr("web-*"), "db-1", false},
		{ptr("web-*"), "web-1/../db-1", false}, // * stops at /
		{ptr("db-[0-9]"), "db-12", false},
		{ptr("web-["), "web-1", false}, // a malformed glob admits nobody
		{ptr(""), "web-1", false},
	} {
		ctx := context.Background()
		if tc.glob != nil {
			ctx = WithAgentGlob(ctx, *tc.glob)
		}
		if got := AgentAllowed(ctx, tc.agentID); got != tc.want {
			t.Errorf("glob %v, agent %q: %v, want %v", tc.glob, tc.agentID, got, tc.want)
		}
	}
}

func ptr(s string) *string { return &s }
