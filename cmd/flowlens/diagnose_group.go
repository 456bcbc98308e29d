package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/apiclient"
	"github.com/flowlens/flowlens/diagnose"
	"github.com/flowlens/flowlens/insights"
)

// rejectsFromGroup diagnoses a log group stored on the server: with
// --aws-config here, from the group's tuples read through the query API;
// without, by the server's own diagnosis API and configuration. The local
// export wins when given, because it is the one the user asked about (it
// may be newer than the server's).
func rejectsFromGroup(cmd *cobra.Command, g *globals, ac *awsConfigFlags, group string, since time.Duration, start, end string, workers int) (*diagnose.Report, error) {
	t1 := time.Now()
	var err error
	if end != "" {
		if t1, err = insights.ParseTime(end); err != nil {
			return nil, fmt.Errorf("--end: %w", err)
		}
	}
	t0 := t1.Add(-since)
	if start != "" {
		if t0, err = insights.ParseTime(start); err != nil {
			return nil, fmt.Errorf("--start: %w", err)
		}
	}
	if ac.dir == "" {
		return rejectsFromServer(cmd.Context(), g.client(), group, t0, t1)
	}
	m, err := ac.load()
	if err != nil {
		return nil, err
	}
	return diagnose.RejectsFromLogs(cmd.Context(), apiQuerier{g.client()}, m, group, t0, t1, workers)
}

// rejectsFromServer asks GET /api/v1/diagnose/rejects.
func rejectsFromServer(ctx context.Context, c *apiclient.Client, group string, start, end time.Time) (*diagnose.Report, error) {
	q := url.Values{"group": {group}, "start": {strconv.FormatInt(start.Unix(), 10)}, "end": {strconv.FormatInt(end.Unix(), 10)}}
	var rep diagnose.Report
	err := c.Get(ctx, "/api/v1/diagnose/rejects", q, &rep)
	var ae *apiclient.Error
	if errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable && strings.Contains(ae.Message, "--aws-config") {
		return nil, fmt.Errorf("%w (or give --aws-config DIR to this command)", err)
	}
	if err != nil {
		return nil, err
	}
	return &rep, nil
}

// apiQuerier runs the diagnosis's queries through POST /api/v1/query.
type apiQuerier struct{ c *apiclient.Client }

func (a apiQuerier) Query(ctx context.Context, query, group string, start, end time.Time) ([]string, [][]any, error) {
	res, err := a.c.Query(ctx, apiclient.QueryRequest{Query: query, LogGroups: []string{group}, Start: start.Unix(), End: end.Unix()})
	if err != nil {
		return nil, nil, err
	}
	return res.Columns, res.Rows, nil
}
