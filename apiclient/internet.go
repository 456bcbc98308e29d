package apiclient

import (
	"context"
	"net/http"
	"net/url"
)

// InternetMonitors lists the internet monitors into out.
func (c *Client) InternetMonitors(ctx context.Context, out any) error {
	return c.Get(ctx, "/api/v1/internet/monitors", nil, out)
}

// CreateInternetMonitor creates the monitor (a JSON-marshallable
// definition) and decodes the stored one into out.
func (c *Client) CreateInternetMonitor(ctx context.Context, monitor, out any) error {
	return c.sendJSON(ctx, http.MethodPost, "/api/v1/internet/monitors", nil, monitor, out)
}

// DeleteInternetMonitor deletes a monitor (its history stays).
func (c *Client) DeleteInternetMonitor(ctx context.Context, name string) error {
	return c.sendJSON(ctx, http.MethodDelete, "/api/v1/internet/monitors/"+url.PathEscape(name), nil, nil, nil)
}

// InternetQuery fetches one of the internet read endpoints: measurements,
// top-locations, overall or events.
func (c *Client) InternetQuery(ctx context.Context, what string, q url.Values, out any) error {
	return c.Get(ctx, "/api/v1/internet/"+what, q, out)
}
