package web

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"
)

// User is one account of the web UI. Passwords are kept only as bcrypt
// hashes; `flowlens users hash-password` prints one for a users file.
type User struct {
	Name         string
	PasswordHash []byte
}

// AdminPasswordFile is where a generated admin password is kept inside the
// data dir when neither a users file nor FLOWLENS_ADMIN_PASSWORD is given.
const AdminPasswordFile = "admin-password"

// BcryptCost is the work factor of new hashes (about 50 ms here): slow
// enough to hurt a guesser, fast enough for a login.
const BcryptCost = 10

var userName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// ParseUsers reads a users file:
//
//	users:
//	  - name: alice
//	    password_hash: $2a$10$...
//
// Errors name the file, line and field.
func ParseUsers(data []byte, filename string) ([]User, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", filename, err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty users file (want a users: list)", filename)
	}
	root := doc.Content[0]
	at := func(n *yaml.Node, field, format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s: %s", filename, n.Line, field, fmt.Sprintf(format, args...))
	}
	if root.Kind != yaml.MappingNode {
		return nil, at(root, "(top)", "want a mapping with a users: list")
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		if k.Value != "users" {
			return nil, at(k, k.Value, "unknown field (want users)")
		}
		list = root.Content[i+1]
	}
	if list == nil || list.Kind != yaml.SequenceNode || len(list.Content) == 0 {
		return nil, at(root, "users", "want a non-empty list of {name, password_hash}")
	}
	var users []User
	seen := map[string]bool{}
	for i, n := range list.Content {
		path := fmt.Sprintf("users[%d]", i)
		u, err := parseUser(n, path, at)
		if err != nil {
			return nil, err
		}
		if seen[u.Name] {
			return nil, at(n, path+".name", "user %q appears twice", u.Name)
		}
		seen[u.Name] = true
		users = append(users, u)
	}
	return users, nil
}

func parseUser(n *yaml.Node, path string, at func(*yaml.Node, string, string, ...any) error) (User, error) {
	if n.Kind != yaml.MappingNode {
		return User{}, at(n, path, "want a mapping with name and password_hash")
	}
	var u User
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := path + "." + k.Value
		if v.Kind != yaml.ScalarNode {
			return User{}, at(v, field, "want a string")
		}
		switch k.Value {
		case "name":
			if !userName.MatchString(v.Value) {
				return User{}, at(v, field, "%q is not a user name (letters, digits, '.', '_', '@', '-'; up to 64)", v.Value)
			}
			u.Name = v.Value
		case "password_hash":
			if _, err := bcrypt.Cost([]byte(v.Value)); err != nil {
				return User{}, at(v, field, "not a bcrypt hash (make one with `flowlens users hash-password`)")
			}
			u.PasswordHash = []byte(v.Value)
		default:
			return User{}, at(k, field, "unknown field (want name, password_hash)")
		}
	}
	if u.Name == "" {
		return User{}, at(n, path+".name", "missing")
	}
	if u.PasswordHash == nil {
		return User{}, at(n, path+".password_hash", "missing")
	}
	return u, nil
}

// LoadUsers reads a users file from disk.
func LoadUsers(path string) ([]User, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read users file: %w", err)
	}
	return ParseUsers(b, path)
}

// HashPassword returns a bcrypt hash of a password.
func HashPassword(password string) ([]byte, error) {
	if password == "" {
		return nil, errors.New("empty password")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), BcryptCost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

// GeneratePassword returns a random password (120 bits, URL-safe).
func GeneratePassword() string {
	b := make([]byte, 15)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// adminPassword returns the password kept in the data dir, creating it the
// first time, so that a restarted server keeps the same admin login.
func adminPassword(dataDir string) (pw, path string, err error) {
	path = filepath.Join(dataDir, AdminPasswordFile)
	if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) != "" {
		// A file written by hand (or copied in) may be readable by others.
		if err := privateFile(path); err != nil {
			return "", path, err
		}
		return strings.TrimSpace(string(b)), path, nil
	}
	pw = GeneratePassword()
	if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		return "", path, fmt.Errorf("write generated admin password: %w", err)
	}
	return pw, path, nil
}

// privateFile takes group and other permissions away from path.
func privateFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("check mode of %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(path, fi.Mode().Perm()&^0o077); err != nil {
		return fmt.Errorf("make %s private: %w", path, err)
	}
	return nil
}
