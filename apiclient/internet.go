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

// InternetMonitors lists the internet monitors into out.
func (c *Client) InternetMonitors(ctx context.Context, out any) error {
	return c.Get(ctx, "/api/v1/internet/monitors", nil, out)
}

// CreateInternetMonitor creates the monitor (a JSON-marshallable
// definition) and decodes the stored one into out.
func (c *Client) CreateInternetMonitor(ctx context.Context, monitor, out any) error {
	return c.internetSend(ctx, http.MethodPost, "/api/v1/internet/monitors", monitor, out)
}

// DeleteInternetMonitor deletes a monitor (its history stays).
func (c *Client) DeleteInternetMonitor(ctx context.Context, name string) error {
	return c.internetSend(ctx, http.MethodDelete, "/api/v1/internet/monitors/"+url.PathEscape(name), nil, nil)
}

// InternetQuery fetches one of the internet read endpoints: measurements,
// top-locations, overall or events.
func (c *Client) InternetQuery(ctx context.Context, what string, q url.Values, out any) error {
	return c.Get(ctx, "/api/v1/internet/"+what, q, out)
}

// internetSend is a request with an optional JSON body.
func (c *Client) internetSend(ctx context.Context, method, path string, body, out any) error {
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
	req.Header.Set("Content-Type", "application/json")
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
