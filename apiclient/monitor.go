package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
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
	return c.monitorCall(ctx, http.MethodPost, "/api/v1/monitors", def, out)
}

// UpdateMonitor replaces a monitor's definition.
func (c *Client) UpdateMonitor(ctx context.Context, name string, def, out any) error {
	return c.monitorCall(ctx, http.MethodPut, "/api/v1/monitors/"+url.PathEscape(name), def, out)
}

// DeleteMonitor deletes a monitor.
func (c *Client) DeleteMonitor(ctx context.Context, name string) error {
	return c.monitorCall(ctx, http.MethodDelete, "/api/v1/monitors/"+url.PathEscape(name), nil, nil)
}

// monitorCall sends a JSON body (if any) and decodes the JSON answer.
func (c *Client) monitorCall(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the FlowLens server at %s (set --server or FLOWLENS_SERVER): %w", c.Base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return &Error{Status: resp.StatusCode, Message: e.Error}
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	return json.Unmarshal(data, out)
}
