package main

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/flowlens/flowlens/server"
)

// routePattern finds the API routes the server and its modules mount:
// every "METHOD /api/..." string literal of the non-test sources.
var routePattern = regexp.MustCompile(`"((?:GET|POST|PUT|PATCH|DELETE) /api/[^"]*)"`)

// apiRoutes lists the route patterns found in the repository's sources.
func apiRoutes(t *testing.T) []string {
	t.Helper()
	var routes []string
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != "../.." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range routePattern.FindAllStringSubmatch(string(b), -1) {
			routes = append(routes, m[1])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(routes)
	return slices.Compact(routes)
}

// startFullServer runs `flowlens server` in process with every module.
func startFullServer(t *testing.T, cfg server.Config) *server.Server {
	t.Helper()
	var mods moduleFlags
	mods.register(pflag.NewFlagSet("test", pflag.ContinueOnError))
	cfg.DataDir, cfg.Listen, cfg.Modules = t.TempDir(), "127.0.0.1:0", mods.builder(nil)
	cfg.OpenStore = embeddedStore(t, cfg.DataDir)
	srv, err := server.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(context.Background()) })
	return srv
}

func call(t *testing.T, method, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b)
}

// TestAgentTokenRefusedOutsideIngest: an agent token (the kind left on
// every host) reaches POST /api/v1/ingest and nothing else: every other
// API route of the server and its modules answers 401 or 403, so a
// stolen agent token cannot read flows, create alarms (webhooks), change
// monitors or upload flow logs.
func TestAgentTokenRefusedOutsideIngest(t *testing.T) {
	const admin, agent = "admin-token-for-test", "agent-token-for-test-0001"
	srv := startFullServer(t, server.Config{Tokens: []string{admin},
		AgentTokens: []server.AgentToken{{Token: agent, AgentGlob: "*"}}})
	routes := apiRoutes(t)
	if len(routes) < 30 {
		t.Fatalf("found only %d API routes in the sources: %v", len(routes), routes)
	}
	wildcard := regexp.MustCompile(`\{[^}]*\}`)
	checked := 0
	for _, route := range routes {
		method, path, _ := strings.Cut(route, " ")
		url := srv.URL() + wildcard.ReplaceAllString(path, "x")
		if code, body := call(t, method, url, admin); code == http.StatusNotFound && strings.Contains(body, "no such endpoint") {
			t.Errorf("%s: not mounted on the server (%d %q)", route, code, body)
			continue
		}
		if route == "POST /api/v1/ingest" {
			continue
		}
		code, body := call(t, method, url, agent)
		if code != http.StatusUnauthorized && code != http.StatusForbidden {
			t.Errorf("%s with an agent token: %d %.200q, want 401 or 403", route, code, body)
		}
		checked++
	}
	t.Logf("%d API routes refuse the agent token", checked)
}
