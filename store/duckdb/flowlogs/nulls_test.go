package flowlogs_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/flowlens/flowlens/flowlog/importer"
	"github.com/flowlens/flowlens/store/duckdb/flowlogs/flowlogstest"
)

// Every field of every record reads back from DuckDB as written, NULLs
// included, across many batches: '-' appears at random in every field.
func TestImportNullsRoundTrip(t *testing.T) {
	im, st := flowlogstest.NewImporter(t, importer.Config{ChunkBytes: 256 << 10, Parsers: 2}, nil)
	rng := rand.New(rand.NewPCG(7, 7))
	const n = 60000
	var text strings.Builder
	want := make([]string, n)
	for i := range n {
		vals := []string{"2", "1234", fmt.Sprintf("eni-%d", i%7), fmt.Sprintf("10.0.%d.%d", i%200, i%250), "10.1.1.1",
			fmt.Sprint(i % 60000), fmt.Sprint(i % 1000), "6", fmt.Sprint(i), fmt.Sprint(i * 3), fmt.Sprint(1700000000 + i), fmt.Sprint(1700000060 + i), "ACCEPT", "OK"}
		for k := range vals {
			if k != 10 && rng.IntN(20) == 0 { // start stays, to order by
				vals[k] = "-"
			}
		}
		text.WriteString(strings.Join(vals, " ") + "\n")
		out := append([]string(nil), vals...)
		for k := range out {
			if out[k] == "-" {
				out[k] = "NULL"
			}
		}
		if out[2] == "NULL" { // the stream falls back to the file name
			out = append(out, "nulls.log")
		} else {
			out = append(out, out[2])
		}
		want[i] = strings.Join(out, " ")
	}
	sum, err := im.Import(context.Background(), importer.Request{Group: "n", Source: "nulls.log"}, strings.NewReader(text.String()))
	if err != nil || sum.Records != n {
		t.Fatalf("%+v %v", sum, err)
	}
	got := flowlogstest.Rows(t, st.DB(), `SELECT version, account_id, interface_id, srcaddr, dstaddr, srcport, dstport, protocol, packets, bytes, start, "end", action, log_status, log_stream FROM flowlog_records ORDER BY start`)
	bad := 0
	for i := range want {
		if got[i] != want[i] {
			if bad < 5 {
				t.Errorf("row %d:\n got %s\nwant %s", i, got[i], want[i])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d rows differ", bad, n)
	}
}
