// Command flowlens-querybench measures the Logs Insights query language
// over stored flow-log records and compares it with mawk over the same
// records as text.
//
//	go run ./cmd/flowlens-querybench -records 10000000
//
// It fills flowlog_records of a new DuckDB file with generated
// default-format records (INSERT ... SELECT over range(N), in SQL),
// writes the same records as a text file, then times each query through
// logquery.Engine (parse, compile, statistics and rows, as the API runs
// it) and the equivalent mawk program over the file.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/flowlens/flowlens/flowlog"
	"github.com/flowlens/flowlens/logquery"
	"github.com/flowlens/flowlens/store/duckdb"
	"github.com/flowlens/flowlens/store/duckdb/flowlogs"
)

type config struct {
	dir      string
	keep     bool
	records  int64
	repeat   int
	mawk     bool
	openPath string
	textPath string
	only     string
	srcAddrs int64
	parts    bool
}

// The generated records: 512 interfaces of one account, -src-addrs source
// and 4,096 destination addresses, 6 service ports, ~12% REJECT, one
// record per 10 ms from baseTime.
const baseTime = 1_700_000_000

func main() {
	var c config
	flag.StringVar(&c.dir, "dir", "", "directory for the DuckDB file and the text file (default: a new temporary directory)")
	flag.BoolVar(&c.keep, "keep", false, "keep the files")
	flag.Int64Var(&c.records, "records", 10_000_000, "records to generate")
	flag.IntVar(&c.repeat, "repeat", 5, "runs of each query")
	flag.BoolVar(&c.mawk, "mawk", true, "also time mawk over the text file")
	flag.StringVar(&c.openPath, "query-path", "", "skip generating: query the DuckDB file kept by an earlier run (-keep)")
	flag.StringVar(&c.textPath, "text-path", "", "with -query-path: the text file kept by that run")
	flag.Int64Var(&c.srcAddrs, "src-addrs", 65536, "distinct source addresses (uniform); DuckDB stores srcaddr with FSST when a row group holds many distinct values, with a dictionary when few")
	flag.BoolVar(&c.parts, "parts", false, "also time the statistics statement and the main statement alone")
	flag.StringVar(&c.only, "only", "", "run only the queries whose name contains this")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "flowlens-querybench:", err)
		os.Exit(1)
	}
}

func run(c config) error {
	ctx := context.Background()
	dir := c.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "flowlens-querybench-")
		if err != nil {
			return err
		}
		dir = d
	}
	if !c.keep && c.openPath == "" {
		defer os.RemoveAll(dir)
	}
	dbPath, textPath := filepath.Join(dir, "flowlens.duckdb"), filepath.Join(dir, "records.log")
	if c.openPath != "" {
		dbPath, textPath = c.openPath, c.textPath
	}
	st, err := duckdb.Open(duckdb.Config{Path: dbPath}, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.MigrateComponent(ctx, flowlogs.Component, flowlogs.Migrations()); err != nil {
		return err
	}
	if c.openPath == "" {
		if err := generate(ctx, st, c.records, c.srcAddrs, textPath); err != nil {
			return err
		}
	}
	var n int64
	if err := st.DB().QueryRowContext(ctx, `SELECT count(*) FROM flowlog_records`).Scan(&n); err != nil {
		return err
	}
	fmt.Printf("records stored: %d\n", n)
	e := logquery.NewEngine(st.DB(), (&logquery.Sources{}).SetGroups("flow-log groups", flowlogs.LogSource()))
	for _, q := range queries {
		if !strings.Contains(q.name, c.only) {
			continue
		}
		if err := timeQuery(ctx, e, q, c.repeat); err != nil {
			return err
		}
		if c.parts {
			if err := timeParts(ctx, st, q, c.repeat); err != nil {
				return err
			}
		}
		if c.mawk && q.awk != "" && textPath != "" {
			if err := timeAwk(q, textPath, c.repeat); err != nil {
				return err
			}
		}
	}
	return nil
}

type benchQuery struct {
	name  string
	query string
	awk   string // the same answer from the text file, with mawk (empty: none)
}

var queries = []benchQuery{
	{
		name:  "top rejected sources",
		query: `filter action="REJECT" | stats count(*) as n by srcAddr | sort n desc | limit 20`,
		awk:   `$13=="REJECT"{c[$4]++} END{for(k in c) print c[k], k}`,
	},
	{
		name:  "bytes per 5 minutes",
		query: `stats sum(bytes) as bytes by bin(5m) | sort bytes desc | limit 10`,
	},
	{
		name:  "SSH rejected, by interface",
		query: `filter dstPort = 22 and action = "REJECT" | stats count(*) as n, sum(bytes) by interfaceId | sort n desc | limit 10`,
	},
	{
		name:  "subnet filter",
		query: `filter isIpv4InSubnet(srcAddr, "10.1.0.0/16") | stats count(*) as n by dstAddr | sort n desc | limit 10`,
	},
	{
		name:  "regex parse of @message, first 1000",
		query: `parse @message /^\d+ (?<account>\d+) (?<eni>\S+)/ | filter eni like "eni-0" | fields account, eni | limit 1000`,
	},
}

// generate fills flowlog_records in SQL and writes the same records as a
// default-format text file.
func generate(ctx context.Context, st *duckdb.Store, n, srcAddrs int64, textPath string) error {
	db := st.DB()
	began := time.Now()
	if _, err := db.ExecContext(ctx, `INSERT INTO flowlog_formats (id, fields) VALUES (1, ?)`,
		strings.Join(defaultFields(), " ")); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO flowlog_files VALUES (1, 'bench', 'generated', 'none', ?, 0, 0, now())`, n); err != nil {
		return err
	}
	// h is a per-record hash; addresses, ports and actions derive from it.
	_, err := db.ExecContext(ctx, `
		INSERT INTO flowlog_records (log_group, log_stream, file_id, format_id, version, account_id, interface_id,
			srcaddr, dstaddr, srcport, dstport, protocol, packets, bytes, start, "end", action, log_status)
		SELECT 'bench', eni, 1, 1, 2, '123456789010', eni,
			'10.' || ((h % ?) >> 14) || '.' || (((h % ?) >> 7) % 128) || '.' || ((h % ?) % 128),
			'10.9.' || ((h >> 24) % 64) || '.' || ((h >> 30) % 64),
			(1024 + (h >> 36) % 60000)::INTEGER,
			[22, 80, 443, 3389, 5432, 8080][(1 + (h >> 20) % 6)::BIGINT]::INTEGER,
			6, 1 + (h >> 40) % 100, 40 + (h >> 44) % 100000,
			?::BIGINT + i // 100, ?::BIGINT + i // 100 + 60,
			CASE WHEN (h >> 50) % 100 < 12 THEN 'REJECT' ELSE 'ACCEPT' END, 'OK'
		FROM (SELECT i, hash(i) AS h, 'eni-0' || lpad(to_hex((hash(i) >> 54) % 512), 16, '0') AS eni FROM range(?) t(i))`,
		srcAddrs, srcAddrs, srcAddrs, baseTime, baseTime, n)
	if err != nil {
		return fmt.Errorf("generate records: %w", err)
	}
	fmt.Printf("generated %d records in SQL in %.1f s\n", n, time.Since(began).Seconds())
	began = time.Now()
	// COPY takes its file name as a literal: this is the benchmark's own
	// temporary path, quoted.
	if _, err := db.ExecContext(ctx, `COPY (SELECT concat_ws(' ', version, account_id, interface_id, srcaddr, dstaddr,
			srcport, dstport, protocol, packets, bytes, start, "end", action, log_status) FROM flowlog_records)
		TO '`+strings.ReplaceAll(textPath, "'", "''")+`' (FORMAT csv, HEADER false, QUOTE '')`); err != nil {
		return fmt.Errorf("write text file: %w", err)
	}
	fi, err := os.Stat(textPath)
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s (%d MB) in %.1f s\n", textPath, fi.Size()>>20, time.Since(began).Seconds())
	return nil
}

func defaultFields() []string {
	var out []string
	for _, tok := range strings.Fields(flowlog.DefaultFormat) {
		out = append(out, strings.TrimSuffix(strings.TrimPrefix(tok, "${"), "}"))
	}
	return out
}

func timeQuery(ctx context.Context, e *logquery.Engine, q benchQuery, repeat int) error {
	var times []time.Duration
	var res *logquery.Result
	for i := 0; i < repeat; i++ {
		began := time.Now()
		r, err := e.Run(ctx, logquery.Request{Query: q.query, Groups: []string{"bench"},
			Start: time.Unix(0, 0), End: time.Unix(4_000_000_000, 0)})
		if err != nil {
			return fmt.Errorf("%s: %w", q.name, err)
		}
		times = append(times, time.Since(began))
		res = r
	}
	slices.Sort(times)
	fmt.Printf("\n%s\n  %s\n  query: min %s  median %s  max %s over %d runs; %d rows; scanned %d, matched %d, %d MB estimated\n",
		q.name, q.query, ms(times[0]), ms(times[len(times)/2]), ms(times[len(times)-1]), repeat,
		len(res.Rows), res.Statistics.RecordsScanned, res.Statistics.RecordsMatched, res.Statistics.BytesScanned>>20)
	for i, row := range res.Rows {
		if i == 3 {
			fmt.Println("  ...")
			break
		}
		fmt.Printf("  %v\n", row)
	}
	return nil
}

func timeAwk(q benchQuery, path string, repeat int) error {
	if _, err := exec.LookPath("mawk"); err != nil {
		fmt.Println("  mawk: not installed (apt-get install mawk), skipped")
		return nil
	}
	var times []time.Duration
	var out []byte
	for i := 0; i < repeat && i < 3; i++ {
		began := time.Now()
		cmd := exec.Command("sh", "-c", `mawk '`+q.awk+`' "$1" | sort -rn | head -20`, "sh", path)
		o, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("mawk: %w", err)
		}
		times = append(times, time.Since(began))
		out = o
	}
	slices.Sort(times)
	lines := strings.SplitN(string(out), "\n", 4)
	fmt.Printf("  mawk:  min %s  median %s over %d runs; first: %s\n", ms(times[0]), ms(times[len(times)/2]), len(times),
		strings.Join(lines[:min(3, len(lines))], " | "))
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }

// timeParts runs the compiled statistics and main statements alone.
func timeParts(ctx context.Context, st *duckdb.Store, q benchQuery, repeat int) error {
	pq, err := logquery.Parse(q.query)
	if err != nil {
		return err
	}
	var formats = map[int][]string{1: defaultFields()}
	comp, err := logquery.Compile(pq, flowlogs.RecordsSource(formats), logquery.Range{Groups: []string{"bench"},
		Start: time.Unix(0, 0), End: time.Unix(4_000_000_000, 0)})
	if err != nil {
		return err
	}
	for _, part := range []struct {
		name string
		sql  string
		args []any
	}{{"records scanned", comp.ScannedSQL, comp.ScannedArgs}, {"records matched", comp.MatchedSQL, comp.MatchedArgs}, {"main", comp.SQL, comp.Args}} {
		if part.sql == "" {
			continue
		}
		var times []time.Duration
		for i := 0; i < repeat; i++ {
			began := time.Now()
			rows, err := st.DB().QueryContext(ctx, part.sql, part.args...)
			if err != nil {
				return fmt.Errorf("%s: %w", part.name, err)
			}
			for rows.Next() {
			}
			rows.Close()
			times = append(times, time.Since(began))
		}
		slices.Sort(times)
		fmt.Printf("  %s statement alone: min %s  median %s\n", part.name, ms(times[0]), ms(times[len(times)/2]))
	}
	return nil
}
