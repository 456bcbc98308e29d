package applogs_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/applog"
	"github.com/flowlens/flowlens/logquery"
	"github.com/flowlens/flowlens/store/duckdb"
	"github.com/flowlens/flowlens/store/duckdb/applogs"
	"github.com/flowlens/flowlens/store/duckdb/flowlogs"
)

const ingestMs = 1772366500000 // 2026-03-01T12:01:40Z

func open(t testing.TB) (*duckdb.Store, *applogs.Store) {
	t.Helper()
	db, err := duckdb.Open(duckdb.Config{Path: filepath.Join(t.TempDir(), "a.duckdb")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := applogs.Open(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return db, st
}

func put(t testing.TB, st *applogs.Store, group, body string) {
	t.Helper()
	var b applog.Batch
	if errs := applog.Parse(&b, []byte(body), 1, applog.Options{IngestionMs: ingestMs}); len(errs) > 0 {
		t.Fatal(errs)
	}
	if err := st.Append(context.Background(), group, ingestMs, []*applog.Batch{&b}); err != nil {
		t.Fatal(err)
	}
}

func sources() *logquery.Sources {
	return (&logquery.Sources{}).SetGroups("flow-log groups", flowlogs.LogSource()).
		AddListedGroups("application log groups", applogs.LogSource())
}

func run(t testing.TB, db *duckdb.Store, groups []string, q string) *logquery.Result {
	t.Helper()
	res, err := logquery.NewEngine(db.DB(), sources()).Run(context.Background(), logquery.Request{Query: q, Groups: groups,
		Start: time.UnixMilli(ingestMs).Add(-24 * time.Hour), End: time.UnixMilli(ingestMs).Add(time.Hour)})
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return res
}

func rows(res *logquery.Result) string {
	var b strings.Builder
	fmt.Fprintln(&b, strings.Join(res.Columns, " | "))
	for _, r := range res.Rows {
		parts := make([]string, len(r))
		for i, v := range r {
			parts[i] = fmt.Sprint(v)
		}
		fmt.Fprintln(&b, strings.Join(parts, " | "))
	}
	return b.String()
}

const appBody = `{"timestamp":"2026-03-01T12:00:01Z","level":"ERROR","service":"api","msg":"upstream timeout","http":{"status":504,"path":"/pay"},"tags":["edge","eu"]}
{"timestamp":"2026-03-01T12:00:02Z","level":"INFO","service":"api","msg":"ok","http":{"status":200,"path":"/pay"}}
{"time":1772366403,"level":"ERROR","service":"db","msg":"connection reset by peer"}
2026-03-01 12:00:04 WARN auth failure for user bob from 10.0.0.7
{"timestamp":"2026-03-01T12:00:05Z", "Entity": { "KeyAttributes": { "Type": "Service", "Name": "PetClinic" }, "Attributes": { "PlatformType": "AWS::EC2", "EC2.InstanceId": "i-1234567890123" } } }
`

func TestApplicationLogQueries(t *testing.T) {
	db, st := open(t)
	put(t, st, "app", appBody)
	flowlogsOpen(t, db)
	cases := []struct{ name, q, want string }{
		{"errors by service", `filter level = "ERROR" | stats count(*) as n by service | sort service`,
			"service | n\napi | 1\ndb | 1\n"},
		{"nested and array fields", `filter ispresent(http.status) | fields http.status, tags.1, http.path | sort @timestamp`,
			"http.status | tags.1 | http.path\n504 | eu | /pay\n200 | <nil> | /pay\n"},
		{"numbers compare", `filter http.status >= 500 | fields msg`, "msg\nupstream timeout\n"},
		{"timestamps from the event, else ingestion", `fields @timestamp, @ingestionTime | sort @timestamp`,
			"@timestamp | @ingestionTime\n2026-03-01 12:00:01.000 | 2026-03-01 12:01:40.000\n2026-03-01 12:00:02.000 | 2026-03-01 12:01:40.000\n2026-03-01 12:00:03.000 | 2026-03-01 12:01:40.000\n2026-03-01 12:00:05.000 | 2026-03-01 12:01:40.000\n2026-03-01 12:01:40.000 | 2026-03-01 12:01:40.000\n"},
		{"parse plain text", `parse @message "* * * auth failure for user * from *" as d, tm, lvl, user, ip | filter ispresent(user) | fields user, ip, lvl`,
			"user | ip | lvl\nbob | 10.0.0.7 | WARN\n"},
		{"a missing field is null", `filter ispresent(nosuch) | stats count(*) as n`, "n\n0\n"},
		{"@log", `stats count(*) as n by @log`, "@log | n\napp | 5\n"},
		// CWL_AnalyzeLogData-discoverable-fields: the @entity example's
		// flattened names, a key holding a dot included.
		{"aws entity example", `filter ispresent(Entity.KeyAttributes.Type) | fields Entity.KeyAttributes.Type, Entity.KeyAttributes.Name, Entity.Attributes.PlatformType, Entity.Attributes.EC2.InstanceId`,
			"Entity.KeyAttributes.Type | Entity.KeyAttributes.Name | Entity.Attributes.PlatformType | Entity.Attributes.EC2.InstanceId\nService | PetClinic | AWS::EC2 | i-1234567890123\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := rows(run(t, db, []string{"app"}, c.q)); got != c.want {
				t.Errorf("got\n%swant\n%s", got, c.want)
			}
		})
	}
}

func flowlogsOpen(t testing.TB, db *duckdb.Store) {
	t.Helper()
	fl, err := flowlogs.Open(context.Background(), db, flowlogs.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fl.Close() })
}

// A query may span application log groups, and groups the application
// store does not hold go to the flow-log source (empty here).
func TestQuerySpansApplicationGroups(t *testing.T) {
	db, st := open(t)
	flowlogsOpen(t, db)
	put(t, st, "app-a", `{"level":"ERROR","service":"a"}`+"\n")
	put(t, st, "app-b", `{"level":"ERROR","service":"b"}`+"\nplain ERROR line\n")
	got := rows(run(t, db, []string{"app-a", "app-b"}, `filter level = "ERROR" | stats count(*) as n by @log | sort @log`))
	if want := "@log | n\napp-a | 1\napp-b | 1\n"; got != want {
		t.Errorf("got\n%swant\n%s", got, want)
	}
	got = rows(run(t, db, []string{"app-a", "vpc"}, `stats count(*) as n`))
	if want := "n\n1\n"; got != want {
		t.Errorf("app + empty flow-log group: got\n%swant\n%s", got, want)
	}
}

// Query text reaches the database only as bound values: a field name
// made to break out of the JSON path is not a field (and a canary table
// survives).
func TestDiscoveredFieldNamesAreBound(t *testing.T) {
	db, st := open(t)
	flowlogsOpen(t, db)
	put(t, st, "app", `{"a":"x"}`+"\n")
	if _, err := db.DB().Exec(`CREATE TABLE canary (x INT)`); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"fields `a\"'); DROP TABLE canary; --`", "fields `a'); DROP TABLE canary; --`", "fields `x.y[0]`"} {
		logquery.NewEngine(db.DB(), sources()).Run(context.Background(), logquery.Request{Query: q, Groups: []string{"app"}, //nolint:errcheck // only the canary matters
			Start: time.UnixMilli(0), End: time.UnixMilli(ingestMs)})
	}
	if _, err := db.DB().Exec(`SELECT * FROM canary`); err != nil {
		t.Fatalf("canary gone: %v", err)
	}
}
