package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
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
	return c.sendJSON(ctx, http.MethodPost, "/api/v1/alarms", def, out)
}

// PutAlarm creates or replaces the alarm name.
func (c *Client) PutAlarm(ctx context.Context, name string, def, out any) error {
	return c.sendJSON(ctx, http.MethodPut, "/api/v1/alarms/"+url.PathEscape(name), def, out)
}

// DeleteAlarm deletes an alarm and its history.
func (c *Client) DeleteAlarm(ctx context.Context, name string) error {
	return c.sendJSON(ctx, http.MethodDelete, "/api/v1/alarms/"+url.PathEscape(name), nil, nil)
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
	return c.sendJSON(ctx, http.MethodPost, "/api/v1/metric-filters", filter, out)
}

// DeleteMetricFilter deletes the filter name of a log group.
func (c *Client) DeleteMetricFilter(ctx context.Context, group, name string) error {
	return c.sendJSON(ctx, http.MethodDelete, "/api/v1/metric-filters/"+url.PathEscape(group)+"/"+url.PathEscape(name), nil, nil)
}

// TestMetricFilter runs a pattern over sample lines on the server.
func (c *Client) TestMetricFilter(ctx context.Context, req, out any) error {
	return c.sendJSON(ctx, http.MethodPost, "/api/v1/metric-filters/test", req, out)
}

// sendJSON sends body (JSON, none when nil) with method and decodes a 2xx
// JSON answer into out (when not nil).
func (c *Client) sendJSON(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
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
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(answer, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(answer))
		}
		if resp.StatusCode == http.StatusUnauthorized && c.Token == "" {
			e.Error += " (no token given: set FLOWLENS_TOKEN or --token)"
		}
		return &Error{Status: resp.StatusCode, Message: e.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(answer, out); err != nil {
		return errors.Join(fmt.Errorf("decode answer of %s", path), err)
	}
	return nil
}
