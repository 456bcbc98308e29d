package ingest

import (
	"context"
	"path"
)

// agentGlobKey carries, in a request's context, the agent ids the request's
// token may report as.
type agentGlobKey struct{}

// WithAgentGlob marks a request as authenticated by an agent token that may
// only report as agent ids matching glob (path.Match syntax). The server's
// auth sets it; requests without it (admin tokens) may report as any agent.
func WithAgentGlob(ctx context.Context, glob string) context.Context {
	return context.WithValue(ctx, agentGlobKey{}, glob)
}

// AgentAllowed reports whether the request's token may report as agentID.
// ServeHTTP checks it after decoding and before anything about the report
// is recorded, so a token for one agent cannot blackhole another agent's
// sequences, forge its counters or overwrite its registry entry.
func AgentAllowed(ctx context.Context, agentID string) bool {
	glob, limited := ctx.Value(agentGlobKey{}).(string)
	if !limited {
		return true
	}
	ok, err := path.Match(glob, agentID)
	return err == nil && ok
}
