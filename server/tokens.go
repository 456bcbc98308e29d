package server

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// AgentToken is a token that may only POST reports to /api/v1/ingest, and
// only for agent ids matching AgentGlob (path.Match syntax: `*` matches any
// run of characters except `/`, `?` one character, `[a-z]` a class).
type AgentToken struct {
	Token     string
	AgentGlob string
	Source    string // file:line, for errors
}

// Limits of an agent tokens file.
const (
	// MinAgentTokenLen keeps guessable tokens out: 16 characters of a
	// random hex or base64 string are 64 to 96 bits.
	MinAgentTokenLen = 16
	maxTokenLineLen  = 4096
)

// LoadAgentTokens reads an agent tokens file (see ParseAgentTokens).
func LoadAgentTokens(file string) ([]AgentToken, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("agent tokens file: %w", err)
	}
	defer f.Close()
	return ParseAgentTokens(f, file)
}

// ParseAgentTokens reads one agent token per line: the token, then
// optionally whitespace and the glob of agent ids it may report as (`*`
// when absent). Blank lines and lines starting with `#` are ignored, as is
// anything from a field starting with `#`. Errors name name:line but never
// the token itself.
func ParseAgentTokens(r io.Reader, name string) ([]AgentToken, error) {
	var out []AgentToken
	firstLine := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), maxTokenLineLen)
	line := 0
	for sc.Scan() {
		line++
		fields := strings.Fields(sc.Text())
		for i, f := range fields {
			if strings.HasPrefix(f, "#") {
				fields = fields[:i]
				break
			}
		}
		if len(fields) == 0 {
			continue
		}
		at := fmt.Sprintf("%s:%d", name, line)
		tok, err := parseAgentTokenLine(fields)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		tok.Source = at
		if prev, dup := firstLine[tok.Token]; dup {
			return nil, fmt.Errorf("%s: the same token as line %d; give each agent group its own token", at, prev)
		}
		firstLine[tok.Token] = line
		out = append(out, tok)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s:%d: line longer than %d bytes", name, line+1, maxTokenLineLen)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

func parseAgentTokenLine(fields []string) (AgentToken, error) {
	if len(fields) > 2 {
		return AgentToken{}, fmt.Errorf("%d fields, want TOKEN [AGENT-ID-GLOB]", len(fields))
	}
	tok := AgentToken{Token: fields[0], AgentGlob: "*"}
	if len(fields) == 2 {
		tok.AgentGlob = fields[1]
	}
	if len(tok.Token) < MinAgentTokenLen {
		return AgentToken{}, fmt.Errorf("token is %d characters, want at least %d (e.g. openssl rand -hex 20)", len(tok.Token), MinAgentTokenLen)
	}
	for _, c := range []byte(tok.Token) {
		if c < 0x21 || c > 0x7e {
			return AgentToken{}, errors.New("token has a character outside printable ASCII; it must fit an Authorization header")
		}
	}
	if _, err := path.Match(tok.AgentGlob, ""); err != nil {
		return AgentToken{}, fmt.Errorf("agent id glob %q: %w", tok.AgentGlob, err)
	}
	return tok, nil
}

// credential is one accepted token, kept as its SHA-256 so that every
// comparison takes the same time whatever the presented token's length.
type credential struct {
	sum   [sha256.Size]byte
	admin bool
	glob  string // agent tokens: the agent ids they may report as
}

func newCredential(token string, admin bool, glob string) credential {
	return credential{sum: sha256.Sum256([]byte(token)), admin: admin, glob: glob}
}

// identity is who a request's bearer token makes it.
type identity struct {
	known bool // the token is accepted
	admin bool
	glob  string
}

// identify compares the presented bearer token with every accepted one in
// constant time (no early exit, fixed-length digests).
func identify(creds []credential, authorization string) identity {
	presented, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok || presented == "" {
		return identity{}
	}
	sum := sha256.Sum256([]byte(presented))
	var id identity
	for i := range creds {
		if subtle.ConstantTimeCompare(sum[:], creds[i].sum[:]) == 1 {
			id = identity{known: true, admin: creds[i].admin, glob: creds[i].glob}
		}
	}
	return id
}

// checkTokenOverlap refuses a token that is both an admin and an agent
// token: which of the two it is would be a guess.
func checkTokenOverlap(admin [][]byte, agents []AgentToken) error {
	for _, a := range agents {
		for _, t := range admin {
			if bytes.Equal(t, []byte(a.Token)) {
				return fmt.Errorf("agent token at %s is also an admin token (FLOWLENS_TOKEN, --tokens-file or DATA_DIR/token); use different tokens", a.Source)
			}
		}
	}
	return nil
}
