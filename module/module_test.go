package module

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// recorder is a module that logs its calls into a shared journal.
type recorder struct {
	name      string
	journal   *[]string
	failStart error
	failStop  error
}

func (r *recorder) Routes(*http.ServeMux, func(http.Handler) http.Handler) {}
func (r *recorder) Start(context.Context) error {
	*r.journal = append(*r.journal, "start "+r.name)
	return r.failStart
}
func (r *recorder) Stop(context.Context) error {
	*r.journal = append(*r.journal, "stop "+r.name)
	return r.failStop
}

func modules(journal *[]string, names ...string) ([]Named, map[string]*recorder) {
	var out []Named
	by := map[string]*recorder{}
	for _, n := range names {
		r := &recorder{name: n, journal: journal}
		by[n] = r
		out = append(out, Named{Name: n, Module: r})
	}
	return out, by
}

func TestStartAllStartsInOrderAndStopAllStopsInReverse(t *testing.T) {
	var journal []string
	mods, _ := modules(&journal, "a", "b", "c")
	if err := StartAll(context.Background(), mods); err != nil {
		t.Fatal(err)
	}
	if err := StopAll(context.Background(), mods); err != nil {
		t.Fatal(err)
	}
	want := []string{"start a", "start b", "start c", "stop c", "stop b", "stop a"}
	if !reflect.DeepEqual(journal, want) {
		t.Fatalf("calls %v, want %v", journal, want)
	}
}

func TestStartFailureStopsTheStartedOnesInReverse(t *testing.T) {
	var journal []string
	mods, by := modules(&journal, "a", "b", "c", "d")
	by["c"].failStart = errors.New("boom")
	err := StartAll(context.Background(), mods)
	if err == nil || !strings.Contains(err.Error(), "start c: boom") {
		t.Fatalf("StartAll: %v, want the failure naming c", err)
	}
	want := []string{"start a", "start b", "start c", "stop b", "stop a"}
	if !reflect.DeepEqual(journal, want) {
		t.Fatalf("calls %v, want %v (the failed module and those after it are not stopped)", journal, want)
	}
}

func TestStopAllStopsEveryModuleAndReportsEachFailure(t *testing.T) {
	var journal []string
	mods, by := modules(&journal, "a", "b", "c")
	by["c"].failStop = errors.New("disk gone")
	by["a"].failStop = errors.New("socket gone")
	err := StopAll(context.Background(), mods)
	for _, want := range []string{"stop c: disk gone", "stop a: socket gone"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("StopAll: %v, want it to contain %q", err, want)
		}
	}
	if want := []string{"stop c", "stop b", "stop a"}; !reflect.DeepEqual(journal, want) {
		t.Fatalf("calls %v, want %v", journal, want)
	}
}

func TestCheckRefusesWiringMistakes(t *testing.T) {
	var journal []string
	ok, _ := modules(&journal, "a", "b")
	cases := []struct {
		name string
		mods []Named
		want string
	}{
		{"fine", ok, ""},
		{"unnamed", []Named{{Module: ok[0].Module}}, "module 0 has no name"},
		{"nil", []Named{{Name: "x"}}, "module x is nil"},
		{"nil pointer", []Named{ok[0], {Name: "never-built", Module: (*recorder)(nil)}}, "module never-built is nil"},
		{"twice", []Named{ok[0], ok[1], ok[0]}, "module name a is used twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.mods)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Check: %v, want %q", err, tc.want)
			}
		})
	}
}
