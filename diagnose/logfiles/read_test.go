package logfiles

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowlens/flowlens/flowlog/source"

	"github.com/flowlens/flowlens/diagnose"
	"github.com/flowlens/flowlens/diagnose/awsconfig"
	"github.com/flowlens/flowlens/flowlog"
)

func generated(t *testing.T, ifaces, records int) (*diagnose.Model, string, []byte) {
	t.Helper()
	dir := t.TempDir()
	cfgDir := filepath.Join(dir, "aws")
	os.Mkdir(cfgDir, 0o755)
	gc := diagnose.GenConfig{Interfaces: ifaces, Records: records, Seed: 7, Start: time.Now().Add(-3 * time.Hour).Unix()}
	for name, data := range diagnose.GenerateConfig(gc) {
		if err := os.WriteFile(filepath.Join(cfgDir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := awsconfig.Load(cfgDir, awsconfig.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := diagnose.GenerateFlowLog(&buf, gc); err != nil {
		t.Fatal(err)
	}
	return diagnose.Compile(cfg), dir, buf.Bytes()
}

type bruteCause struct {
	records int64
	flows   map[string]bool
}

// bruteForce explains every REJECT record on its own: a linear search for
// the accepted request it answers, then the full analysis.
func bruteForce(t *testing.T, m *diagnose.Model, log []byte) map[[3]string]*bruteCause {
	t.Helper()
	type rec struct {
		f      []string
		accept bool
	}
	var recs []rec
	for _, line := range strings.Split(strings.TrimSpace(string(log)), "\n") {
		f := strings.Fields(line)
		recs = append(recs, rec{f, f[12] == "ACCEPT"})
	}
	out := map[[3]string]*bruteCause{}
	for _, r := range recs {
		if r.accept {
			continue
		}
		f := r.f
		reply := false
		for _, o := range recs {
			g := o.f
			if o.accept && g[3] == f[4] && g[4] == f[3] && g[5] == f[6] && g[6] == f[5] && g[7] == f[7] {
				reply = true
				break
			}
		}
		sp, _ := strconv.Atoi(f[5])
		dp, _ := strconv.Atoi(f[6])
		proto, _ := strconv.Atoi(f[7])
		e, err := m.Classify(f[2], netip.MustParseAddr(f[3]), netip.MustParseAddr(f[4]), sp, dp, proto, reply, false)
		if err != nil {
			t.Fatal(err)
		}
		k := [3]string{e.Code, e.ComponentID, e.Direction}
		c := out[k]
		if c == nil {
			c = &bruteCause{flows: map[string]bool{}}
			out[k] = c
		}
		c.records++
		c.flows[f[3]+" "+f[4]+" "+f[6]+" "+f[7]] = true
	}
	return out
}

func TestGroupedCountsEqualRecordByRecordEvaluation(t *testing.T) {
	for _, tc := range []struct {
		name             string
		records          int
		readers, explain int // goroutines of Read and of Causes
	}{
		{name: "more tuples than workers", records: 6000, readers: 3, explain: 2},
		{name: "one reader, one explainer", records: 6000, readers: 1, explain: 1},
		{name: "more workers than distinct tuples", records: 40, readers: 8, explain: 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, dir, log := generated(t, 200, tc.records)
			checkGrouped(t, m, dir, log, tc.records, tc.readers, tc.explain)
		})
	}
}

func checkGrouped(t *testing.T, m *diagnose.Model, dir string, log []byte, records, readers, explain int) {
	t.Helper()
	path := filepath.Join(dir, "flows.log")
	// gzip, with the S3 header line: the reader's other paths.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(flowlog.Default.Names() + "\n"))
	zw.Write(log)
	zw.Close()
	if err := os.WriteFile(path, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	inputs, err := source.ExpandPaths(context.Background(), []string{path}, source.SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g, st, err := Read(context.Background(), inputs, m, Options{Workers: readers})
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != int64(records) || st.BadLines != 0 {
		t.Fatalf("stats %+v, want %d records and no bad lines", st, records)
	}
	causes, err := g.Causes(explain)
	if err != nil {
		t.Fatal(err)
	}
	want := bruteForce(t, m, log)
	if len(want) == 0 {
		t.Fatal("no REJECT records: the case tests nothing")
	}
	if len(causes) != len(want) {
		t.Errorf("%d causes, brute force has %d", len(causes), len(want))
	}
	var rejects int64
	codes := map[string]bool{}
	for _, c := range causes {
		k := [3]string{c.Code, c.ComponentID, c.Direction}
		codes[c.Code] = true
		rejects += c.Records
		w := want[k]
		if w == nil {
			t.Errorf("cause %v not in the brute force", k)
			continue
		}
		if c.Records != w.records || c.Flows != int64(len(w.flows)) {
			t.Errorf("cause %v: %d records %d flows, brute force %d records %d flows", k, c.Records, c.Flows, w.records, len(w.flows))
		}
		if len(c.Examples) == 0 || c.Fix == "" {
			t.Errorf("cause %v has no example or no fix", k)
		}
	}
	if rejects != st.Rejects {
		t.Errorf("causes hold %d records, %d rejects read", rejects, st.Rejects)
	}
	if records >= 1000 {
		for _, code := range []string{diagnose.CodeSubnetACL, diagnose.CodeSGRulesMismatch, diagnose.CodeUnknownAddress, diagnose.CodeUnknownInterface} {
			if !codes[code] {
				t.Errorf("no %s cause: the generated log should produce one", code)
			}
		}
	}
	for i := 1; i < len(causes); i++ {
		if causes[i].Flows > causes[i-1].Flows {
			t.Errorf("causes not sorted by flows: %d before %d", causes[i-1].Flows, causes[i].Flows)
		}
	}
}

func TestReadRefusesAFormatWithoutNeededFields(t *testing.T) {
	m, dir, _ := generated(t, 50, 10)
	path := filepath.Join(dir, "custom.log")
	os.WriteFile(path, []byte("version account-id srcaddr dstaddr action\n2 1 10.0.0.1 10.0.0.2 ACCEPT\n"), 0o644)
	inputs, _ := source.ExpandPaths(context.Background(), []string{path}, source.SourceOptions{})
	_, _, err := Read(context.Background(), inputs, m, Options{})
	if err == nil || !strings.Contains(err.Error(), "interface-id") {
		t.Errorf("err = %v, want one naming interface-id", err)
	}
}

func TestReadCountsRefusedRecordsAsBadLines(t *testing.T) {
	m, dir, _ := generated(t, 150, 10)
	path := filepath.Join(dir, "bad.log")
	lines := []string{
		"2 1 eni-1 10.0.0.10 10.0.0.11 40000 443 6 1 1 1700000000 1700000060 REJECT OK", // counted
		"2 1 eni-1 - - - - - - - 1700000000 1700000060 - NODATA",
		"2 1 eni-1 10.0.0.10 10.0.0.11 40000 443 6 1 1 1700000000 99999999999 REJECT OK", // end in the future
		"2 1 eni-1 10.0.0.10 10.0.0.11 40000 443 6 1 1 1700000000 REJECT OK",             // a field short
		"2 1 eni-1 10.0.0.10 10.0.0.11 70000 443 6 1 1 1700000000 1700000060 REJECT OK",  // port out of range
		"2 1 eni-1 10.0.0.256 10.0.0.11 40000 443 6 1 1 1700000000 1700000060 REJECT OK", // no address
		"2 1 eni-1 10.0.0.10 10.0.0.11 40000 443 - 1 1 1700000000 1700000060 REJECT OK",  // no protocol
	}
	os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	inputs, _ := source.ExpandPaths(context.Background(), []string{path}, source.SourceOptions{})
	_, st, err := Read(context.Background(), inputs, m, Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Stats{Files: 1, Records: 1, Rejects: 1, BadLines: 6}); st != want {
		t.Errorf("stats %+v, want %+v", st, want)
	}
}

func TestReadManyFilesGivesTheCausesOfOneFile(t *testing.T) {
	m, dir, log := generated(t, 200, 3000)
	one := filepath.Join(dir, "one.log")
	os.WriteFile(one, log, 0o644)
	// The same records in 6 files, every other one gzipped with a header.
	lines := strings.SplitAfter(strings.TrimSpace(string(log)), "\n")
	var paths []string
	for i := range 6 {
		part := strings.Join(lines[i*len(lines)/6:(i+1)*len(lines)/6], "")
		path := filepath.Join(dir, "many", strconv.Itoa(i)+".log")
		data := []byte(part)
		if i%2 == 1 {
			var gz bytes.Buffer
			zw := gzip.NewWriter(&gz)
			zw.Write([]byte(flowlog.Default.Names() + "\n" + part))
			zw.Close()
			data = gz.Bytes()
		}
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	read := func(paths []string, workers int) ([]diagnose.Cause, Stats) {
		t.Helper()
		inputs, err := source.ExpandPaths(context.Background(), paths, source.SourceOptions{})
		if err != nil {
			t.Fatal(err)
		}
		g, st, err := Read(context.Background(), inputs, m, Options{Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		causes, err := g.Causes(workers)
		if err != nil {
			t.Fatal(err)
		}
		return causes, st
	}
	want, wantSt := read([]string{one}, 1)
	got, st := read(paths, 4)
	if st.Files != 6 || st.Records != wantSt.Records || st.Rejects != wantSt.Rejects {
		t.Errorf("stats %+v, one file %+v", st, wantSt)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("causes of 6 files differ from those of one file")
	}

	// One bad file among them: the read fails naming it.
	bad := filepath.Join(dir, "many", "9.log")
	os.WriteFile(bad, []byte("version srcaddr dstaddr action\n2 10.0.0.1 10.0.0.2 ACCEPT\n"), 0o644)
	inputs, _ := source.ExpandPaths(context.Background(), append(paths, bad), source.SourceOptions{})
	if _, _, err := Read(context.Background(), inputs, m, Options{Workers: 4}); err == nil || !strings.Contains(err.Error(), "9.log") {
		t.Errorf("err = %v, want one naming 9.log", err)
	}
}
