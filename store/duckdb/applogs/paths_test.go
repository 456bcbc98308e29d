package applogs

import (
	"strings"
	"testing"
)

func TestJSONPathsOfFlattenedNames(t *testing.T) {
	cases := []struct{ name, want string }{
		{"level", `$."level"`},
		{"http.status", `$."http"."status" $."http.status"`},
		{"tags.1", `$."tags"[1] $."tags"."1" $."tags.1"`},
		{"a.b.c", `$."a"."b"."c" $."a"."b.c" $."a.b"."c" $."a.b.c"`},
	}
	for _, c := range cases {
		if got := strings.Join(jsonPaths(c.name), " "); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	if n := len(jsonPaths(strings.Repeat("x.", 30) + "x")); n != maxPaths {
		t.Errorf("%d paths for 31 parts, want the cap %d", n, maxPaths)
	}
}
