package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/wire"
	pb "github.com/flowlens/flowlens/wire/flowlensv1"
)

func TestAgentTokenFileParse(t *testing.T) {
	const tokA = "aaaaaaaaaaaaaaaa1111"
	const tokB = "bbbbbbbbbbbbbbbb2222"
	cases := []struct {
		name, file string
		want       []AgentToken
		err        string
	}{
		{name: "empty", file: "", want: nil},
		{name: "comments and blanks", file: "# agents\n\n   \n\t# indented comment\n", want: nil},
		{name: "token alone means every agent", file: tokA + "\n",
			want: []AgentToken{{Token: tokA, AgentGlob: "*", Source: "agents.txt:1"}}},
		{name: "token and glob, trailing comment", file: "# fleet\n" + tokA + "\tweb-*   # the web tier\n  " + tokB + " db-[0-9]*\n",
			want: []AgentToken{{Token: tokA, AgentGlob: "web-*", Source: "agents.txt:2"}, {Token: tokB, AgentGlob: "db-[0-9]*", Source: "agents.txt:3"}}},
		{name: "CRLF line ends", file: tokA + " web-1\r\n",
			want: []AgentToken{{Token: tokA, AgentGlob: "web-1", Source: "agents.txt:1"}}},
		{name: "three fields", file: "\n" + tokA + " web-* extra\n", err: "agents.txt:2: 3 fields, want TOKEN [AGENT-ID-GLOB]"},
		{name: "short token", file: "short web-*\n", err: "agents.txt:1: token is 5 characters, want at least 16"},
		{name: "bad glob", file: tokA + " web-[\n", err: `agents.txt:1: agent id glob "web-[": syntax error in pattern`},
		{name: "bad glob after a literal", file: tokA + " web-1[\n", err: `agents.txt:1: agent id glob "web-1["`},
		{name: "non-ASCII token", file: "tökentökentökentöken\n", err: "agents.txt:1: token has a character outside printable ASCII"},
		{name: "same token twice", file: tokA + " web-*\n#\n" + tokA + " db-*\n", err: "agents.txt:3: the same token as line 1"},
		{name: "line too long", file: tokA + "\n" + strings.Repeat("x", 5000) + "\n", err: "agents.txt:2: line longer than 4096 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAgentTokens(strings.NewReader(tc.file), "agents.txt")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.err)
				}
				if strings.Contains(err.Error(), tokA) {
					t.Errorf("error %q shows the token", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("token %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// FuzzParseAgentTokens: any file either parses into tokens that are long
// enough, printable and carry a valid glob, or fails with file:line.
func FuzzParseAgentTokens(f *testing.F) {
	f.Add("aaaaaaaaaaaaaaaa1111 web-*\n# c\n\nbbbbbbbbbbbbbbbb2222\n")
	f.Add("aaaaaaaaaaaaaaaa1111 [\n")
	f.Add("aaaaaaaaaaaaaaaa1111 a b\r\n")
	f.Fuzz(func(t *testing.T, file string) {
		toks, err := ParseAgentTokens(strings.NewReader(file), "f")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f:") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, tok := range toks {
			if len(tok.Token) < MinAgentTokenLen || strings.ContainsAny(tok.Token, " \t\r\n") || strings.HasPrefix(tok.Token, "#") || seen[tok.Token] {
				t.Fatalf("accepted token %q", tok.Token)
			}
			seen[tok.Token] = true
			if _, err := path.Match(tok.AgentGlob, "x"); err != nil {
				t.Fatalf("accepted glob %q: %v", tok.AgentGlob, err)
			}
		}
	})
}

func TestAdminTokenAlsoAgentTokenRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := New(Config{DataDir: dir, Listen: "127.0.0.1:0", OpenStore: embeddedStore(dir), Tokens: []string{"same-token-as-agent"},
		AgentTokens: []AgentToken{{Token: "same-token-as-agent", AgentGlob: "*", Source: "agents.txt:4"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Start()
	if err == nil {
		s.Stop(t.Context())
		t.Fatal("Start accepted a token that is both admin and agent")
	}
	if !strings.Contains(err.Error(), "agents.txt:4") || strings.Contains(err.Error(), "same-token-as-agent") {
		t.Errorf("error %q: want the file:line and not the token", err)
	}
}

// postReport posts one report for agentID with token and returns the
// status and the answer.
func postReport(t *testing.T, url, token, agentID string, seq uint64) (int, string) {
	t.Helper()
	now := time.Now()
	body, err := wire.Encode(&pb.Report{AgentId: agentID, Sequence: seq, Epoch: 42,
		IntervalStartUnixMs: now.Add(-10 * time.Second).UnixMilli(), IntervalEndUnixMs: now.UnixMilli(),
		Flows: []*pb.Flow{{LocalIp: []byte{10, 1, 10, 10}, RemoteIp: []byte{10, 1, 11, 10}, Port: 443,
			Direction: pb.Direction_DIRECTION_CLIENT, Protocol: 6, BytesSent: 1000}}}, wire.EncodingZstd)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, url+"/api/v1/ingest", bytes.NewReader(body))
	req.Header.Set("Content-Encoding", wire.EncodingZstd)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAgentTokenCannotReportAsOtherAgent: a token for web-* may report as
// web-1 but not as db-1 (403), and the refused report leaves no trace: db-1
// is not registered and its sequence stays free for the real db-1.
func TestAgentTokenCannotReportAsOtherAgent(t *testing.T) {
	const admin, webToken, dbToken = "admin-token-1", "web-agents-token-0001", "db-agents-token-00001"
	s := startTestServer(t, Config{Tokens: []string{admin}, AgentTokens: []AgentToken{
		{Token: webToken, AgentGlob: "web-*"}, {Token: dbToken, AgentGlob: "db-[0-9]"}}})
	cases := []struct {
		token, agent string
		code         int
		want         string
	}{
		{webToken, "db-1", 403, `may not report as agent_id \"db-1\"`},
		{webToken, "web-1/../db-1", 403, "may not report"},
		{dbToken, "db-12", 403, "may not report"},
		{webToken, "web-1", 200, `"status":"stored"`},
		{dbToken, "db-1", 200, `"status":"stored"`},
		{admin, "anything-1", 200, `"status":"stored"`},
		{"not-a-token-at-all", "web-2", 401, "missing or wrong token"},
	}
	for _, tc := range cases {
		code, body := postReport(t, s.URL(), tc.token, tc.agent, 1)
		if code != tc.code || !strings.Contains(body, tc.want) || strings.Contains(body, "duplicate") {
			t.Errorf("token for %q posting as %q: %d %q, want %d containing %q", tc.token[:3], tc.agent, code, body, tc.code, tc.want)
		}
	}
	// db-1's sequence 1 was stored by its own token, not blackholed by the
	// web token's attempt: it was not a duplicate.
	_, list := get(t, http.DefaultClient, s.URL()+"/api/v1/agents", admin)
	var agents []struct {
		AgentID string `json:"agent_id"`
		Reports int    `json:"reports"`
	}
	if err := json.Unmarshal([]byte(list), &agents); err != nil {
		t.Fatalf("agents %q: %v", list, err)
	}
	for _, a := range agents {
		if a.AgentID == "db-1" && a.Reports != 1 {
			t.Errorf("db-1 has %d reports registered, want 1 (the refused one must leave no trace)", a.Reports)
		}
	}
	if _, body := postReport(t, s.URL(), dbToken, "db-1", 1); !strings.Contains(body, `"duplicate":true`) {
		t.Errorf("db-1 resending its sequence 1: %q, want a duplicate of its own report", body)
	}
}
