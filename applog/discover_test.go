package applog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/flowlens/flowlens/internal/golden"
)

func TestDiscoverFlattensLikeLogsInsights(t *testing.T) {
	cases := []struct {
		name, line, want string
		ok               bool
	}{
		// AWS "Supported logs and discovered fields" (CWL_AnalyzeLogData-discoverable-fields):
		// the @entity example flattens to Entity.KeyAttributes.Type = Service, ...,
		// Entity.Attributes.EC2.InstanceId (a key holding a dot stays whole).
		{"aws entity example", `{ "Entity": { "KeyAttributes": { "Type": "Service", "Name": "PetClinic" }, "Attributes": { "PlatformType": "AWS::EC2", "EC2.InstanceId": "i-1234567890123" } } }`,
			`{"Entity.KeyAttributes.Type":"Service","Entity.KeyAttributes.Name":"PetClinic","Entity.Attributes.PlatformType":"AWS::EC2","Entity.Attributes.EC2.InstanceId":"i-1234567890123"}`, true},
		{"arrays by index", `{"a":[1,{"b":true},[null,"x"]]}`, `{"a.0":1,"a.1.b":true,"a.2.0":null,"a.2.1":"x"}`, true},
		{"empty containers give nothing", `{"a":{},"b":[],"c":1}`, `{"c":1}`, true},
		{"escapes kept", `{"k\"q":"v\u00e9\n"}`, `{"k\"q":"v\u00e9\n"}`, true},
		{"numbers as written", `{"n":-1.5e+3,"z":0}`, `{"n":-1.5e+3,"z":0}`, true},
		{"surrounding space", "  {\"a\":1}\t", `{"a":1}`, true},
		{"plain text", `ERROR connection reset by 10.0.0.1`, "", false},
		{"array line is not an object", `[1,2]`, "", false},
		{"trailing text", `{"a":1} x`, "", false},
		{"trailing comma", `{"a":1,}`, "", false},
		{"leading zero", `{"a":01}`, "", false},
		{"control char in string", "{\"a\":\"x\ty\"}", "", false},
		{"bad escape", `{"a":"\x"}`, "", false},
		{"invalid utf-8", "{\"a\":\"\xff\"}", "", false},
		{"unterminated", `{"a":"x`, "", false},
		{"bare word", `{"a":nul}`, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, _, ok := Discover(nil, []byte(c.line))
			if ok != c.ok {
				t.Fatalf("ok = %v, want %v", ok, c.ok)
			}
			if ok && string(d.Fields) != c.want {
				t.Errorf("fields = %s\nwant     %s", d.Fields, c.want)
			}
		})
	}
}

func TestDiscoverCapsFieldsAtTwoHundred(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := range MaxFields + 5 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"f%d":%d`, i, i)
	}
	b.WriteString("}")
	d, _, ok := Discover(nil, []byte(b.String()))
	if !ok || d.N != MaxFields || !d.Capped {
		t.Fatalf("ok=%v n=%d capped=%v, want %d capped", ok, d.N, d.Capped, MaxFields)
	}
	var m map[string]any
	if err := json.Unmarshal(d.Fields, &m); err != nil || len(m) != MaxFields || m["f199"] == nil || m["f200"] != nil {
		t.Fatalf("fields %v (%d), err %v", m["f199"], len(m), err)
	}
}

func TestDiscoverRefusesDeepNesting(t *testing.T) {
	line := `{"a":` + strings.Repeat("[", maxDepth+2) + strings.Repeat("]", maxDepth+2) + `}`
	if _, _, ok := Discover(nil, []byte(line)); ok {
		t.Fatal("a value nested deeper than maxDepth was flattened")
	}
}

func TestTimestampOfJSONEvents(t *testing.T) {
	cases := []struct {
		line   string
		wantMs int64
		has    bool
	}{
		{`{"timestamp":"2026-03-01T12:00:00Z"}`, 1772366400000, true},
		{`{"timestamp":"2026-03-01T13:00:00.250+01:00"}`, 1772366400250, true},
		{`{"time":1772366400}`, 1772366400000, true},
		{`{"time":1772366400.5}`, 1772366400500, true},
		{`{"time":1772366400123}`, 1772366400123, true},
		{`{"time":"1772366400"}`, 1772366400000, true},
		{`{"time":1,"timestamp":2}`, 2000, true}, // timestamp wins over time
		{`{"nested":{"timestamp":5}}`, 0, false}, // only top-level fields
		{`{"timestamp":"yesterday"}`, 0, false},
		{`{"timestamp":true}`, 0, false},
		{`{"timestamp":-5}`, 0, false},
	}
	for _, c := range cases {
		d, _, ok := Discover(nil, []byte(c.line))
		if !ok || d.HasTime != c.has || d.TimeMs != c.wantMs {
			t.Errorf("%s: ok=%v has=%v ms=%d, want has=%v ms=%d", c.line, ok, d.HasTime, d.TimeMs, c.has, c.wantMs)
		}
	}
}

// TestParseGolden reads a mixed body (plain text, JSON, bad lines) into a
// batch; testdata/mixed.golden holds every event and refusal.
func TestParseGolden(t *testing.T) {
	body := strings.Join([]string{
		`2026-03-01 12:00:01 ERROR payment timeout after 30s`,
		``,
		`{"timestamp":"2026-03-01T12:00:02Z","level":"ERROR","service":"api","req":{"id":"r-1","tags":["a","b"]}}`,
		`{"time":1772366403,"level":"INFO","service":"web","latency_ms":12.5}` + "\r",
		`{"timestamp":"2099-01-01T00:00:00Z","level":"INFO"}`,
		strings.Repeat("x", 111),
		`{"timestamp":"soon","level":"WARN"}`,
		`{"broken":`,
	}, "\n")
	var b Batch
	errs := Parse(&b, []byte(body), 1, Options{IngestionMs: 1772366500000, MaxLineBytes: 110})
	var out bytes.Buffer
	for i := range b.Len() {
		fmt.Fprintf(&out, "event %d time=%d message=%q fields=%s\n", i, b.Times[i], b.Message(i), orNull(b.FieldsJSON(i)))
	}
	for _, e := range errs {
		fmt.Fprintln(&out, e.Error())
	}
	fmt.Fprintf(&out, "bad_times=%d capped=%d\n", b.BadTimes, b.Capped)
	golden.Check(t, "mixed.golden", out.String())
}

func orNull(b []byte) string {
	if b == nil {
		return "NULL"
	}
	return string(b)
}

func TestParseJSONLinesRefusesText(t *testing.T) {
	var b Batch
	errs := Parse(&b, []byte("{\"a\":1}\nplain\n"), 1, Options{JSONLines: true, IngestionMs: 1})
	if b.Len() != 1 || len(errs) != 1 || errs[0].Line != 2 || !strings.Contains(errs[0].Reason, "not a JSON object") {
		t.Fatalf("events %d, errors %v", b.Len(), errs)
	}
}

// FuzzDiscover keeps the scanner equal to encoding/json: a line it
// flattens is valid JSON and an object, its output is valid JSON with the
// leaves a reference flattener finds; a valid UTF-8 JSON object within the
// limits is always flattened.
func FuzzDiscover(f *testing.F) {
	for _, s := range []string{`{"a":{"b":[1,2,{"c":null}]},"timestamp":"2026-01-01T00:00:00Z"}`, `{}`, `{"a":"\u00e9\\"}`, `plain`, `{"a":1e5}`, `{"x":[[],{}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		d, out, ok := Discover([]byte("prefix"), line)
		c, cok := Check(line)
		if cok != ok || c.N != d.N || c.Capped != d.Capped || c.TimeMs != d.TimeMs || c.HasTime != d.HasTime || c.BadTime != d.BadTime {
			t.Fatalf("Check %+v %v differs from Discover %+v %v", c, cok, d, ok)
		}
		var doc any
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		decErr := dec.Decode(&doc)
		_, isObj := doc.(map[string]any)
		valid := json.Valid(line) && utf8.Valid(line) && isObj && decErr == nil
		if ok && !valid {
			t.Fatalf("flattened a line encoding/json refuses: %q", line)
		}
		if !ok {
			if valid && depth(doc) <= maxDepth-1 {
				t.Fatalf("refused a valid JSON object: %q", line)
			}
			if string(out) != "prefix" {
				t.Fatalf("dst changed on refusal: %q", out)
			}
			return
		}
		if !bytes.HasPrefix(out, []byte("prefix")) || !json.Valid(d.Fields) {
			t.Fatalf("output %q not valid JSON after the prefix", out)
		}
		want := flattenTokens(line)
		if d.Capped != (len(want) > MaxFields) {
			t.Fatalf("capped %v with %d leaves", d.Capped, len(want))
		}
		if len(want) > MaxFields {
			want = want[:MaxFields]
		}
		got := flattenTokens(d.Fields)
		if len(got) != len(want) {
			t.Fatalf("%d fields, reference %d: %s", len(got), len(want), d.Fields)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("field %d = %v, reference %v", i, got[i], want[i])
			}
		}
	})
}

// flattenTokens is the reference flattener over encoding/json's token
// stream: every leaf in order as "path=value" (duplicate keys kept).
func flattenTokens(doc []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var out []string
	join := func(p, k string) string {
		if p == "" {
			return k
		}
		return p + "." + k
	}
	var walk func(path string) bool
	walk = func(path string) bool {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch tok {
		case json.Delim('{'):
			for dec.More() {
				k, err := dec.Token()
				if err != nil || !walk(join(path, k.(string))) {
					return false
				}
			}
			_, err = dec.Token()
			return err == nil
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if !walk(join(path, strconv.Itoa(i))) {
					return false
				}
			}
			_, err = dec.Token()
			return err == nil
		}
		out = append(out, path+"="+fmt.Sprint(tok))
		return true
	}
	walk("")
	return out
}

func depth(v any) int {
	switch x := v.(type) {
	case map[string]any:
		d := 0
		for _, e := range x {
			d = max(d, depth(e))
		}
		return d + 1
	case []any:
		d := 0
		for _, e := range x {
			d = max(d, depth(e))
		}
		return d + 1
	}
	return 0
}

func BenchmarkDiscover(b *testing.B) {
	line := []byte(`{"timestamp":"2026-03-01T00:00:00.123Z","level":"INFO","service":"api","msg":"request 12345 done","http":{"status":200,"path":"/v1/items/17"},"latency_ms":12}`)
	var dst []byte
	b.SetBytes(int64(len(line)))
	for range b.N {
		_, dst, _ = Discover(dst[:0], line)
	}
}
