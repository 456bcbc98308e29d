package apiclient

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// The alarm and metric-filter endpoints. Bodies and answers are passed as
// any (the CLI gives its alarm or metricfilter values) so that this
// package, which the pure-Go agent also links, stays free of the server's
// packages.

// ListAlarms fetches GET /api/v1/alarms into out.
func (c *Client) ListAlarms(ctx context.Context, out any) error {
	return c.Get(ctx, "/api/v1/alarms", nil, out)
}

// GetAlarm fetches one alarm with its state.
func (c *Client) GetAlarm(ctx context.Context, name string, out any) error {
	return c.Get(ctx, "/api/v1/alarms/"+url.PathEscape(name), nil, out)
}

// CreateAlarm creates an alarm (def is its definition); the server refuses
// a name already taken.
func (c *Client) CreateAlarm(ctx context.Context, def, out any) error {
	return c.sendJSON(ctx, http.MethodPost, "/api/v1/alarms", nil, def, out)
}

// PutAlarm creates or replaces the alarm name.
func (c *Client) PutAlarm(ctx context.Context, name string, def, out any) error {
	return c.sendJSON(ctx, http.MethodPut, "/api/v1/alarms/"+url.PathEscape(name), nil, def, out)
}

// DeleteAlarm deletes an alarm and its history.
func (c *Client) DeleteAlarm(ctx context.Context, name string) error {
	return c.sendJSON(ctx, http.MethodDelete, "/api/v1/alarms/"+url.PathEscape(name), nil, nil, nil)
}

// AlarmHistory fetches an alarm's state history, newest first.
func (c *Client) AlarmHistory(ctx context.Context, name string, limit int, out any) error {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	return c.Get(ctx, "/api/v1/alarms/"+url.PathEscape(name)+"/history", q, out)
}

// ListMetricFilters fetches GET /api/v1/metric-filters (of one log group
// when group is not empty).
func (c *Client) ListMetricFilters(ctx context.Context, group string, out any) error {
	q := url.Values{}
	if group != "" {
		q.Set("group", group)
	}
	return c.Get(ctx, "/api/v1/metric-filters", q, out)
}

// CreateMetricFilter creates or replaces a metric filter.
func (c *Client) CreateMetricFilter(ctx context.Context, filter, out any) error {
	return c.sendJSON(ctx, http.MethodPost, "/api/v1/metric-filters", nil, filter, out)
}

// DeleteMetricFilter deletes the filter name of a log group.
func (c *Client) DeleteMetricFilter(ctx context.Context, group, name string) error {
	return c.sendJSON(ctx, http.MethodDelete, "/api/v1/metric-filters/"+url.PathEscape(group)+"/"+url.PathEscape(name), nil, nil, nil)
}

// TestMetricFilter runs a pattern over sample lines on the server.
func (c *Client) TestMetricFilter(ctx context.Context, req, out any) error {
	return c.sendJSON(ctx, http.MethodPost, "/api/v1/metric-filters/test", nil, req, out)
}
