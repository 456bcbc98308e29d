// Package apiclient is the CLI's client of the FlowLens JSON API.
package apiclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// DefaultServer is where clients connect unless told otherwise.
const DefaultServer = "http://127.0.0.1:8080"

// ServerFromEnv is FLOWLENS_SERVER or DefaultServer.
func ServerFromEnv() string {
	if s := os.Getenv("FLOWLENS_SERVER"); s != "" {
		return s
	}
	return DefaultServer
}

// Client talks to one server.
type Client struct {
	Base  string
	Token string
	HTTP  *http.Client
}

// New returns a client; insecure skips TLS verification (self-signed labs).
func New(base, token string, insecure bool) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	return &Client{Base: strings.TrimRight(base, "/"), Token: token, HTTP: &http.Client{Transport: tr, Timeout: 5 * time.Minute}}
}

// Error is an answer other than 2xx.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("server answered %d: %s", e.Status, e.Message) }

// Get fetches path?query and decodes the JSON answer into out.
func (c *Client) Get(ctx context.Context, path string, query url.Values, out any) error {
	return c.sendJSON(ctx, http.MethodGet, path, query, nil, out)
}

// sendJSON sends body as JSON (no body when nil) and decodes a 2xx JSON
// answer into out (when not nil).
func (c *Client) sendJSON(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var rd io.Reader
	header := http.Header{}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
		header.Set("Content-Type", "application/json")
	}
	resp, err := c.do(ctx, method, path, query, rd, header)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return c.decode(resp, path, out)
}

// do sends one authenticated request.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body io.Reader, header http.Header) (*http.Response, error) {
	u := c.Base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the FlowLens server at %s (set --server or FLOWLENS_SERVER): %w", c.Base, err)
	}
	return resp, nil
}

// decode reads an answer: JSON into out on 2xx (an empty body leaves out
// alone), an *Error with the server's message otherwise.
func (c *Client) decode(resp *http.Response, path string, out any) error {
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return c.errorOf(resp.StatusCode, body)
	}
	if out == nil || len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return errors.Join(fmt.Errorf("decode answer of %s", path), err)
	}
	return nil
}

// errorOf turns a non-2xx answer into an *Error.
func (c *Client) errorOf(status int, body []byte) *Error {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(body))
	}
	if status == http.StatusUnauthorized && c.Token == "" {
		e.Error += " (no token given: set FLOWLENS_TOKEN or --token)"
	}
	return &Error{Status: status, Message: e.Error}
}
