package apiclient

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// ListMonitors fetches GET /api/v1/monitors.
func (c *Client) ListMonitors(ctx context.Context, out any) error {
	return c.Get(ctx, "/api/v1/monitors", nil, out)
}

// GetMonitor fetches one monitor with its latest evaluation.
func (c *Client) GetMonitor(ctx context.Context, name string, out any) error {
	return c.Get(ctx, "/api/v1/monitors/"+url.PathEscape(name), nil, out)
}

// MonitorEvaluations fetches a monitor's latest evaluations.
func (c *Client) MonitorEvaluations(ctx context.Context, name string, limit int, out any) error {
	return c.Get(ctx, "/api/v1/monitors/"+url.PathEscape(name)+"/evaluations", url.Values{"limit": {fmt.Sprint(limit)}}, out)
}

// CreateMonitor posts a monitor definition.
func (c *Client) CreateMonitor(ctx context.Context, def, out any) error {
	return c.sendJSON(ctx, http.MethodPost, "/api/v1/monitors", nil, def, out)
}

// UpdateMonitor replaces a monitor's definition.
func (c *Client) UpdateMonitor(ctx context.Context, name string, def, out any) error {
	return c.sendJSON(ctx, http.MethodPut, "/api/v1/monitors/"+url.PathEscape(name), nil, def, out)
}

// DeleteMonitor deletes a monitor.
func (c *Client) DeleteMonitor(ctx context.Context, name string) error {
	return c.sendJSON(ctx, http.MethodDelete, "/api/v1/monitors/"+url.PathEscape(name), nil, nil, nil)
}
