package apiclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// FlowLogUpload describes one flow-log file sent to POST /api/v1/logs/{group}.
type FlowLogUpload struct {
	Group  string
	Source string // the file's name, for reports
	Format string // ${field} tokens; empty: header line or default
	Stream string // empty: each record's interface id
	SHA256 string // hex sha256 of the body; empty lets the server compute it
	Size   int64  // body length when known (-1 or 0: unknown)
}

// UploadFlowLog streams body (the file as stored, still compressed) to the
// server, which parses it, and decodes the file summary into out. The
// upload has no overall timeout: a large file takes as long as it takes.
func (c *Client) UploadFlowLog(ctx context.Context, u FlowLogUpload, body io.Reader, out any) error {
	q := url.Values{}
	q.Set("source", u.Source)
	if u.Format != "" {
		q.Set("format", u.Format)
	}
	if u.Stream != "" {
		q.Set("stream", u.Stream)
	}
	// No overall timeout: a large file takes as long as it takes.
	hc := &http.Client{Transport: c.HTTP.Transport}
	path := "/api/v1/logs/" + url.PathEscape(u.Group)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+path+"?"+q.Encode(), body)
	if err != nil {
		return err
	}
	if u.Size > 0 {
		req.ContentLength = u.Size
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	if u.SHA256 != "" {
		req.Header.Set("X-Flowlens-Sha256", u.SHA256)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the FlowLens server at %s (set --server or FLOWLENS_SERVER): %w", c.Base, err)
	}
	defer resp.Body.Close()
	return c.decode(resp, "/api/v1/logs", out)
}

// FlowLogFile asks whether content with this hash is already in the
// group; it decodes the file into out and returns false when it is not.
func (c *Client) FlowLogFile(ctx context.Context, group, sha string, out any) (bool, error) {
	err := c.Get(ctx, "/api/v1/logs/"+url.PathEscape(group)+"/files/"+url.PathEscape(sha), nil, out)
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusNotFound {
		return false, nil
	}
	return err == nil, err
}

// FlowLogGroups decodes GET /api/v1/logs ({"groups": [...]}) into out.
func (c *Client) FlowLogGroups(ctx context.Context, out any) error {
	return c.Get(ctx, "/api/v1/logs", nil, out)
}

// SetFlowLogRetention sets a log group's retention (PUT
// /api/v1/logs/{group}/retention): days a CloudWatch value, 0 for never.
func (c *Client) SetFlowLogRetention(ctx context.Context, group string, days int, out any) error {
	body := map[string]any{"retention_days": nil}
	if days > 0 {
		body["retention_days"] = days
	}
	return c.sendJSON(ctx, http.MethodPut, "/api/v1/logs/"+url.PathEscape(group)+"/retention", nil, body, out)
}

// DeleteFlowLogGroup deletes a log group with its files and records.
func (c *Client) DeleteFlowLogGroup(ctx context.Context, group string) error {
	return c.sendJSON(ctx, http.MethodDelete, "/api/v1/logs/"+url.PathEscape(group), nil, nil, nil)
}

// PutLogLines posts body's lines to an application log group (POST
// /api/v1/logs/{group}): as JSON lines (application/x-ndjson, every line
// must be a JSON object) or as text (text/plain; JSON lines are still
// discovered). It decodes the summary into out.
func (c *Client) PutLogLines(ctx context.Context, group string, jsonLines bool, body io.Reader, out any) error {
	hc := &http.Client{Transport: c.HTTP.Transport} // no overall timeout: a large body takes its time
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+"/api/v1/logs/"+url.PathEscape(group), body)
	if err != nil {
		return err
	}
	ct := "text/plain; charset=utf-8"
	if jsonLines {
		ct = "application/x-ndjson"
	}
	req.Header.Set("Content-Type", ct)
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the FlowLens server at %s (set --server or FLOWLENS_SERVER): %w", c.Base, err)
	}
	defer resp.Body.Close()
	return c.decode(resp, "/api/v1/logs", out)
}
