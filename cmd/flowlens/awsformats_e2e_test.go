package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/flowlog"
)

// awsFile is one file of testdata/aws (see its README for the AWS pages).
type awsFile struct {
	group, file, format string // format "" = the file's header line
	// timestamp is every record's @timestamp: "start" (the record's own),
	// "ingestion" (the import's time) or a fixed time (the file name's).
	timestamp string
}

var awsFiles = []awsFile{
	{"nat", "123456789012_vpcflowlogs_us-east-1_fl-1234abcd_20180620T1620Z_fe123456.log",
		"${instance-id} ${interface-id} ${srcaddr} ${dstaddr} ${pkt-srcaddr} ${pkt-dstaddr}", "2018-06-20 16:20:00.000"},
	{"tgw-vpc", "transit-gateway-vpc.log",
		"${version} ${interface-id} ${account-id} ${vpc-id} ${subnet-id} ${instance-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ${protocol} ${tcp-flags} ${type} ${pkt-srcaddr} ${pkt-dstaddr} ${action} ${log-status}",
		"ingestion"},
	{"tgw", "tgw-flowlogs.log", "", "start"},
}

// TestAWSDocumentedFormatsQueryable is issue 15's acceptance for records
// without start and Transit Gateway fields, through the real binaries:
// AWS's NAT gateway and transit gateway example files (custom formats
// without start) and a Transit Gateway flow log in its default format are
// imported with `flowlens flowlogs import` (and `flowlens logs import`),
// then every record comes back from `flowlens query --start 2000-01-01
// --end 2100-01-01` with every field as the file has it ("-" missing),
// @message equal to the line, @timestamp from start, the file name or the
// ingestion time, and @ingestionTime set; `query --files` answers the same
// without a server.
func TestAWSDocumentedFormatsQueryable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the flowlens binary")
	}
	run := startServerBinary(t)
	for i, f := range awsFiles {
		cmd := "flowlogs"
		if i%2 == 1 {
			cmd = "logs" // the CloudWatch-like name
		}
		args := []string{cmd, "import", "--group", f.group}
		if f.format != "" {
			args = append(args, "--format", f.format)
		}
		before := time.Now().Add(-time.Second)
		out, errs, err := run(append(args, filepath.Join("testdata", "aws", f.file))...)
		if err != nil || !strings.Contains(out, " 0 bad lines") || strings.Contains(out, "warning") {
			t.Fatalf("%s: import: %v\n%s%s", f.file, err, out, errs)
		}
		after := time.Now().Add(time.Second)
		format, lines := awsRecords(t, f)
		query := "fields @timestamp, @ingestionTime, @message, " + strings.Join(queryNames(format), ", ")
		out, errs, err = run("query", "--group", f.group, "--start", "2000-01-01T00:00:00Z", "--end", "2100-01-01T00:00:00Z", "-o", "json", query)
		if err != nil {
			t.Fatalf("%s: query: %v\n%s", f.file, err, errs)
		}
		checkAWSRows(t, f, format, lines, out, before, after)

		out, errs, err = run(append([]string{"query", "--files", filepath.Join("testdata", "aws", f.file), "-o", "json"},
			append(formatFlag(f), query)...)...)
		if err != nil {
			t.Fatalf("%s: query --files: %v\n%s", f.file, err, errs)
		}
		checkAWSRows(t, f, format, lines, out, before, time.Now().Add(time.Second))
	}
}

func formatFlag(f awsFile) []string {
	if f.format == "" {
		return nil
	}
	return []string{"--format", f.format}
}

// awsRecords reads a test file's format and records.
func awsRecords(t *testing.T, f awsFile) (*flowlog.Format, []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "aws", f.file))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var format *flowlog.Format
	if f.format != "" {
		format, err = flowlog.ParseFormat(f.format)
	} else {
		format, err = flowlog.ParseHeader(lines[0])
		lines = lines[1:]
	}
	if err != nil {
		t.Fatal(err)
	}
	return format, lines
}

func queryNames(f *flowlog.Format) []string {
	var out []string
	for i := range f.Len() {
		out = append(out, f.Field(i).Query)
	}
	return out
}

// checkAWSRows compares a query's JSON answer with the file's records:
// one row per line, @message the line, each field its token.
func checkAWSRows(t *testing.T, f awsFile, format *flowlog.Format, lines []string, out string, before, after time.Time) {
	t.Helper()
	var rows []map[string]any
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&rows); err != nil {
		t.Fatalf("%s: %v\n%s", f.file, err, out)
	}
	if len(rows) != len(lines) {
		t.Fatalf("%s: %d rows, want %d:\n%s", f.file, len(rows), len(lines), out)
	}
	byMessage := map[string]map[string]any{}
	for _, r := range rows {
		msg, _ := r["@message"].(string)
		byMessage[msg] = r
	}
	for _, line := range lines {
		toks := strings.Fields(line)
		r, ok := byMessage[strings.Join(toks, " ")]
		if !ok {
			t.Errorf("%s: no row with @message %q", f.file, line)
			continue
		}
		for i, tok := range toks {
			name := format.Field(i).Query
			got, present := r[name]
			switch {
			case tok == "-" && got != nil:
				t.Errorf("%s: %s = %v, want missing (-)", f.file, name, got)
			case tok != "-" && (!present || jsonText(got) != tok):
				t.Errorf("%s: %s = %v, want %s", f.file, name, got, tok)
			}
		}
		ts, _ := r["@timestamp"].(string)
		switch f.timestamp {
		case "start":
			sec, err := r["start"].(json.Number).Int64()
			if want := time.Unix(sec, 0).UTC().Format("2006-01-02 15:04:05.000"); err != nil || ts != want {
				t.Errorf("%s: @timestamp %q, want start %s", f.file, ts, want)
			}
		case "ingestion":
			tt, err := time.Parse("2006-01-02 15:04:05.000", ts)
			if err != nil || tt.Before(before.Truncate(time.Second)) || tt.After(after) {
				t.Errorf("%s: @timestamp %q, want the ingestion time (%v..%v)", f.file, ts, before, after)
			}
		default:
			if ts != f.timestamp {
				t.Errorf("%s: @timestamp %q, want the file name's %s", f.file, ts, f.timestamp)
			}
		}
		if it, err := time.Parse("2006-01-02 15:04:05.000", jsonText(r["@ingestionTime"])); err != nil || it.Before(before.Truncate(time.Second)) || it.After(after) {
			t.Errorf("%s: @ingestionTime %v, want the import's time", f.file, r["@ingestionTime"])
		}
	}
}

func jsonText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	}
	return ""
}
