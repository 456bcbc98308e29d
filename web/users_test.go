package web

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestParseUsers(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	h := string(hash)
	tests := []struct {
		name, yaml, err string
		users           []string
	}{
		{"two users", "users:\n  - name: alice\n    password_hash: " + h + "\n  - name: bob@example\n    password_hash: '" + h + "'\n", "", []string{"alice", "bob@example"}},
		{"empty", "", "u.yaml: empty users file", nil},
		{"not a mapping", "- a\n", "u.yaml:1: (top): want a mapping", nil},
		{"unknown top field", "people: []\n", "u.yaml:1: people: unknown field (want users)", nil},
		{"empty list", "users: []\n", "u.yaml:1: users: want a non-empty list", nil},
		{"bad name", "users:\n  - name: 'a b'\n    password_hash: " + h + "\n", "u.yaml:2: users[0].name: \"a b\" is not a user name", nil},
		{"plain password", "users:\n  - name: alice\n    password_hash: secret\n", "u.yaml:3: users[0].password_hash: not a bcrypt hash", nil},
		{"missing hash", "users:\n  - name: alice\n", "u.yaml:2: users[0].password_hash: missing", nil},
		{"missing name", "users:\n  - password_hash: " + h + "\n", "u.yaml:2: users[0].name: missing", nil},
		{"unknown field", "users:\n  - name: alice\n    password: x\n", "u.yaml:3: users[0].password: unknown field", nil},
		{"duplicate", "users:\n  - name: a\n    password_hash: " + h + "\n  - name: a\n    password_hash: " + h + "\n", "u.yaml:4: users[1].name: user \"a\" appears twice", nil},
		{"nested value", "users:\n  - name: [a]\n    password_hash: x\n", "u.yaml:2: users[0].name: want a string", nil},
		{"yaml syntax", "users: [\n", "u.yaml: yaml:", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			users, err := ParseUsers([]byte(tc.yaml), "u.yaml")
			if tc.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
					t.Fatalf("error %v, want prefix %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, u := range users {
				names = append(names, u.Name)
				if bcrypt.CompareHashAndPassword(u.PasswordHash, []byte("pw")) != nil {
					t.Errorf("%s: hash does not verify", u.Name)
				}
			}
			if strings.Join(names, ",") != strings.Join(tc.users, ",") {
				t.Fatalf("users %v, want %v", names, tc.users)
			}
		})
	}
}

func FuzzParseUsers(f *testing.F) {
	f.Add([]byte("users:\n  - name: alice\n    password_hash: $2a$04$abcdefghijklmnopqrstuu5Zr6Y8f0lGkC9b1m3sQ2wq0o7jQ6Fqa\n"))
	f.Add([]byte("users: []"))
	f.Add([]byte("users:\n  - {name: a, password_hash: x}\n  - &a {name: b}\n  - *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		users, err := ParseUsers(data, "fuzz.yaml")
		if err != nil {
			return
		}
		if len(users) == 0 {
			t.Fatal("no error and no users")
		}
		for _, u := range users {
			if !userName.MatchString(u.Name) || len(u.PasswordHash) == 0 {
				t.Fatalf("accepted bad user %+v", u)
			}
		}
	})
}

func TestAdminPasswordIsKeptInTheDataDir(t *testing.T) {
	dir := t.TempDir()
	pw1, path, err := adminPassword(dir)
	if err != nil || len(pw1) < 16 {
		t.Fatalf("generated %q, %v", pw1, err)
	}
	pw2, path2, err := adminPassword(dir)
	if err != nil || pw2 != pw1 || path2 != path {
		t.Fatalf("second call: %q %q %v, want the same password", pw2, path2, err)
	}
}
