package web

import (
	"context"
	"time"

	"github.com/flowlens/flowlens/diagnose"
)

// DiagnoseModule is the diagnosis module (diagnoseapi.Module): the REJECT
// causes of a log group and path checks, from the server's --aws-config.
type DiagnoseModule interface {
	Configured() bool
	MaxRange() time.Duration
	Rejects(ctx context.Context, group string, start, end time.Time) (*diagnose.Report, error)
	Path(q diagnose.Query) (*diagnose.Result, error)
}

// diagnoseAPI is what the diagnosis page needs. The diagnosis's own types
// are plain data (diagnose is a pure package), so the page shows them as
// they are: the same causes and path as the API and the CLI.
type diagnoseAPI interface {
	configured() bool
	maxRange() time.Duration
	rejects(ctx context.Context, group string, start, end time.Time) (*diagnose.Report, error)
	path(q diagnose.Query) (*diagnose.Result, error)
}

type diagnosePages struct{ m DiagnoseModule }

func diagnoseAdapter(m DiagnoseModule) diagnoseAPI {
	if m == nil {
		return nil
	}
	return diagnosePages{m}
}

func (p diagnosePages) configured() bool        { return p.m.Configured() }
func (p diagnosePages) maxRange() time.Duration { return p.m.MaxRange() }
func (p diagnosePages) rejects(ctx context.Context, group string, start, end time.Time) (*diagnose.Report, error) {
	return p.m.Rejects(ctx, group, start, end)
}
func (p diagnosePages) path(q diagnose.Query) (*diagnose.Result, error) { return p.m.Path(q) }
