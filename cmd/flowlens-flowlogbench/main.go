// Command flowlens-flowlogbench measures flow-log import and storage: it
// generates a default-format file, imports it into a fresh DuckDB file
// through flowlog/importer with the DuckDB record store (the code the server runs), and compares the
// stored size with the same text under gzip -6. It then times the REJECT
// top-talkers question in SQL and with mawk over the text.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/flowlens/flowlens/internal/cpuprofile"

	"github.com/flowlens/flowlens/flowlog/importer"
	"github.com/flowlens/flowlens/flowlog/source"
	"github.com/flowlens/flowlens/internal/flowloggen"
	"github.com/flowlens/flowlens/logquery"
	"github.com/flowlens/flowlens/store/duckdb"
	"github.com/flowlens/flowlens/store/duckdb/flowlogs"
)

func main() {
	records := flag.Int("records", 10_000_000, "records to generate")
	dir := flag.String("dir", "", "work directory (default: a temporary one, removed at the end)")
	keep := flag.Bool("keep", false, "keep the work directory (text, gzip and DuckDB files)")
	reuse := flag.Bool("reuse", false, "reuse flows.log and flows.log.gz in --dir if present")
	parsers := flag.Int("parsers", 0, "parser goroutines (0: default)")
	fromGz := flag.Bool("from-gz", false, "import the gzip file instead of the text file")
	queries := flag.Bool("queries", true, "time the REJECT top-talkers query (SQL and mawk)")
	runs := flag.Int("runs", 5, "runs of each query")
	queriesOnly := flag.Bool("queries-only", false, "only time the queries on the DuckDB file and text kept in --dir by an earlier --keep run")
	threads := flag.Int("threads", 0, "DuckDB worker threads (0: DuckDB's default, one per core)")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the import to this file (go tool pprof)")
	flag.Parse()
	duckThreads = *threads
	var err error
	if *queriesOnly {
		if *dir == "" {
			err = fmt.Errorf("--queries-only needs --dir")
		} else {
			err = timeQueries(context.Background(), filepath.Join(*dir, "flowlogs.duckdb"), filepath.Join(*dir, "flows.log"), *runs)
		}
	} else {
		err = run(*records, *dir, *keep, *reuse, *parsers, *fromGz, *queries, *runs)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "flowlens-flowlogbench:", err)
		os.Exit(1)
	}
}

// duckThreads is --threads, for the import's store.
var duckThreads int

func run(records int, dir string, keep, reuse bool, parsers int, fromGz, queries bool, runs int) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400) // as flowlens server does
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "flowlogbench-")
		if err != nil {
			return err
		}
		dir = d
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	text := filepath.Join(dir, "flows.log")
	gz := text + ".gz"
	fmt.Printf("machine: %d cores (GOMAXPROCS %d), %s/%s; work dir %s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, dir)
	if _, err := os.Stat(gz); !reuse || err != nil {
		if err := generate(text, gz, records); err != nil {
			return err
		}
	}
	textSize, gzSize := size(text), size(gz)
	fmt.Printf("text: %s (%.1f MB, %.1f B/record); gzip -6: %.1f MB (%.2f B/record)\n",
		text, mb(textSize), float64(textSize)/float64(records), mb(gzSize), float64(gzSize)/float64(records))

	dbPath := filepath.Join(dir, "flowlogs.duckdb")
	os.Remove(dbPath)
	os.Remove(dbPath + ".wal")
	st, err := duckdb.Open(duckdb.Config{Path: dbPath, Threads: duckThreads}, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	ctx := context.Background()
	recordStore, err := flowlogs.Open(ctx, st, flowlogs.Config{}, nil)
	if err != nil {
		return err
	}
	im, err := importer.New(recordStore, importer.Config{Parsers: parsers}, nil, nil, nil)
	if err != nil {
		return err
	}
	src := text
	if fromGz {
		src = gz
	}
	inputs, err := source.ExpandPaths(ctx, []string{src}, source.SourceOptions{})
	if err != nil {
		return err
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	load0 := loadAvg()
	t0 := time.Now()
	cpu0 := cpuTime()
	stopProfile, err := cpuprofile.Start(cpuProfile, 0)
	if err != nil {
		return err
	}
	sum, err := source.ImportInputs(ctx, im, "bench", inputs, source.ImportOptions{})
	stopProfile()
	if err != nil {
		return err
	}
	if sum.FailedFiles > 0 {
		return fmt.Errorf("import failed: %s", sum.Files[0].Error)
	}
	elapsed := time.Since(t0)
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&after)
	fmt.Printf("import %s: %d records (%d bad lines) in %.2f s = %.0f records/s; process CPU %.2f s; Go allocated %.0f MB\n",
		filepath.Base(src), sum.Records, sum.BadLines, elapsed.Seconds(), float64(sum.Records)/elapsed.Seconds(), cpu.Seconds(),
		mb(int64(after.TotalAlloc-before.TotalAlloc)))
	// The machine is shared: the load average says how much of it this
	// run had, and CPU per record is the figure that load disturbs least.
	fmt.Printf("  load average before/after: %s / %s; CPU cost %.2f µs/record (%.0f records per CPU-second)\n",
		load0, loadAvg(), cpu.Seconds()*1e6/float64(sum.Records), float64(sum.Records)/cpu.Seconds())
	t1 := time.Now()
	if _, err := st.DB().ExecContext(ctx, "CHECKPOINT"); err != nil {
		return err
	}
	fmt.Printf("checkpoint: %.2f s\n", time.Since(t1).Seconds())
	if err := im.Close(); err != nil {
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}
	stored := size(dbPath) + size(dbPath+".wal")
	fmt.Printf("stored: %.1f MB (%.2f B/record) = %.2fx the gzip -6 text (target <= 1.00)\n",
		mb(stored), float64(stored)/float64(records), float64(stored)/float64(gzSize))
	if !queries {
		return nil
	}
	return timeQueries(ctx, dbPath, text, runs)
}

// timeQueries answers "which sources were rejected most" three ways: the
// Logs Insights query through package logquery (what the server runs for
// flowlens query), hand-written SQL, and mawk over the text.
func timeQueries(ctx context.Context, dbPath, text string, runs int) error {
	st, err := duckdb.Open(duckdb.Config{Path: dbPath}, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer st.Close()
	// A file kept by an older binary is upgraded first (timed: the
	// migration moves every stored record).
	t0 := time.Now()
	if err := st.MigrateComponent(ctx, flowlogs.Component, flowlogs.Migrations()); err != nil {
		return err
	}
	fmt.Printf("schema up to date in %.2f s\n", time.Since(t0).Seconds())
	const q = `SELECT srcaddr, count(*) AS n FROM flowlog_records WHERE action = 'REJECT' GROUP BY srcaddr ORDER BY n DESC, srcaddr LIMIT 20`
	var first string
	sqlTimes, err := timeRuns(runs, func() (string, error) {
		rows, err := st.DB().QueryContext(ctx, q)
		if err != nil {
			return "", err
		}
		defer rows.Close()
		var b strings.Builder
		for rows.Next() {
			var a string
			var n int64
			if err := rows.Scan(&a, &n); err != nil {
				return "", err
			}
			fmt.Fprintf(&b, "%d %s\n", n, a)
		}
		return b.String(), rows.Err()
	}, &first)
	if err != nil {
		return err
	}
	fmt.Printf("SQL  REJECT top 20 sources: %s\n", sqlTimes)
	const lq = `filter action="REJECT" | stats count(*) as n by srcAddr | sort n desc | limit 20`
	eng := logquery.NewEngine(st.DB(), (&logquery.Sources{}).SetGroups("flow-log groups", flowlogs.LogSource()))
	var lqOut string
	lqTimes, err := timeRuns(runs, func() (string, error) {
		res, err := eng.Run(ctx, logquery.Request{Query: lq, Groups: []string{"bench"}, Start: time.Unix(0, 0), End: time.Unix(1<<33, 0)})
		if err != nil {
			return "", err
		}
		// Ties in n come back in any order: compare the counts only.
		var b strings.Builder
		for _, r := range res.Rows {
			fmt.Fprintf(&b, "%v\n", r[1])
		}
		return b.String(), nil
	}, &lqOut)
	if err != nil {
		return fmt.Errorf("logquery: %w", err)
	}
	fmt.Printf("Logs Insights %q: %s\n", lq, lqTimes)
	if lqOut != counts(first) {
		return fmt.Errorf("logquery and SQL disagree:\n%s\nvs\n%s", lqOut, counts(first))
	}
	if _, err := exec.LookPath("mawk"); err != nil {
		fmt.Println("mawk: not installed, skipped")
		return nil
	}
	var awkOut string
	awkTimes, err := timeRuns(min(runs, 3), func() (string, error) {
		cmd := exec.Command("sh", "-c", `mawk '$13=="REJECT"{n[$4]++} END{for(a in n) print n[a], a}' "$1" | sort -k1,1nr -k2,2 | head -20`, "sh", text)
		out, err := cmd.Output()
		return string(out), err
	}, &awkOut)
	if err != nil {
		return err
	}
	fmt.Printf("mawk REJECT top 20 sources: %s\n", awkTimes)
	if first != awkOut {
		return fmt.Errorf("SQL and mawk disagree:\n%s\nvs\n%s", first, awkOut)
	}
	fmt.Println("SQL and mawk give the same 20 rows")
	return nil
}

// timeRuns runs fn n times and describes min/median/max.
func timeRuns(n int, fn func() (string, error), out *string) (string, error) {
	var ds []time.Duration
	for range n {
		t0 := time.Now()
		s, err := fn()
		if err != nil {
			return "", err
		}
		ds = append(ds, time.Since(t0))
		*out = s
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return fmt.Sprintf("min %.3f s, median %.3f s, max %.3f s (%d runs)", ds[0].Seconds(), ds[len(ds)/2].Seconds(), ds[len(ds)-1].Seconds(), n), nil
}

func generate(text, gz string, records int) error {
	t0 := time.Now()
	f, err := os.Create(text)
	if err != nil {
		return err
	}
	if err := flowloggen.Generate(f, flowloggen.GenConfig{Records: records, Seed: 1}); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("generated %d records in %.1f s\n", records, time.Since(t0).Seconds())
	t0 = time.Now()
	cmd := exec.Command("sh", "-c", `gzip -6 -c "$1" > "$2"`, "sh", text, gz)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("gzip -6: %w", err)
	}
	fmt.Printf("gzip -6 in %.1f s\n", time.Since(t0).Seconds())
	return nil
}

func size(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.Size()
}

func mb(n int64) float64 { return float64(n) / 1e6 }

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAvg is the 1-minute load average.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// counts keeps the first column of "n addr" lines.
func counts(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		n, _, _ := strings.Cut(l, " ")
		b.WriteString(n + "\n")
	}
	return b.String()
}

// cpuProfile is --cpuprofile: where the import's CPU profile goes.
var cpuProfile string
