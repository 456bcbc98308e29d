package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/flowlens/flowlens/apiclient"
	"github.com/flowlens/flowlens/flowlog"
	"github.com/flowlens/flowlens/flowlog/importer"
	"github.com/flowlens/flowlens/flowlog/source"
)

func newFlowLogsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use: "flowlogs",
		// "logs" is the CloudWatch-like name (flowlens logs groups ...).
		Aliases: []string{"logs"},
		Short:   "Import VPC Flow Logs into the server and list log groups",
		Long: `Import AWS VPC Flow Logs (versions 2 to 8, default or custom format, plain text, gzip or
Parquet, local or in S3) into the server, where 'flowlens query' searches them with the
CloudWatch Logs Insights language.`,
	}
	cmd.AddCommand(newFlowLogsImportCmd(g), newFlowLogsWatchCmd(g), newFlowLogsGroupsCmd(g), newLogsPutCmd(g))
	return cmd
}

// uploadFlags are shared by import and watch.
type uploadFlags struct {
	group, format, stream string
	output                string
	s3                    source.SourceOptions
}

func (u *uploadFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&u.group, "group", "", "log group to import into (required)")
	f.StringVar(&u.format, "format", "", "record format as ${field} tokens (default: the file's header line, else the version 2 default format)")
	f.StringVar(&u.stream, "stream", "", "log stream of every record (default: each record's interface-id)")
	f.StringVarP(&u.output, "output", "o", "table", "table or json")
	cmd.MarkFlagRequired("group")
}

func (u *uploadFlags) check() error {
	if u.output != "table" && u.output != "json" {
		return fmt.Errorf("--output %q: want table or json", u.output)
	}
	if err := flowlog.CheckGroup(u.group); err != nil {
		return fmt.Errorf("--group: %w", err)
	}
	if u.format != "" { // fail before the network
		if _, err := flowlog.ParseFormat(u.format); err != nil {
			return fmt.Errorf("--format: %w", err)
		}
	}
	return nil
}

func newFlowLogsImportCmd(g *globals) *cobra.Command {
	var u uploadFlags
	cmd := &cobra.Command{
		Use:   "import --group NAME [--format '...'] PATH...",
		Short: "Import flow-log files, directories or S3 prefixes",
		Long: `Import flow-log files into a log group on the server (FLOWLENS_SERVER, token in
FLOWLENS_TOKEN).

PATH is a file (.log, .gz, .parquet or anything else holding records), a directory
(searched recursively for .log, .gz, .txt and .parquet files) or s3://bucket/prefix (read
with the usual AWS credentials; --s3-endpoint for S3-compatible servers). Each file is
sent as stored, still compressed, and the server parses it.

Every file is imported whole or not at all. A file whose content was already imported
into the group is skipped (checked by sha256 before sending). Lines that do not parse are
skipped and reported with file, line and reason; the rest of the file is stored. The
format comes from --format, else the file's header line (S3 text files start with one),
else the default format.

Exits non-zero when a file could not be imported (not for bad lines).`,
		Example: `  flowlens flowlogs import --group prod-vpc ~/flowlogs/
  flowlens flowlogs import --group prod-vpc s3://my-logs/AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/
  flowlens flowlogs import --group lab --format '${version} ${vpc-id} ${srcaddr} ${dstaddr} ${action}' custom.log
  flowlens flowlogs import --group minio --s3-endpoint http://127.0.0.1:9000 s3://logs/vpc/`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, paths []string) error {
			if err := u.check(); err != nil {
				return err
			}
			inputs, err := source.ExpandPaths(cmd.Context(), paths, u.s3)
			if err != nil {
				return err
			}
			if len(inputs) == 0 {
				return fmt.Errorf("no flow-log files found in %s", strings.Join(paths, ", "))
			}
			t0 := time.Now()
			sum := &importer.Summary{Group: u.group}
			prog := newProgress(os.Stderr, len(inputs))
			for _, in := range inputs {
				if err := cmd.Context().Err(); err != nil {
					return err
				}
				sum.Add(uploadInput(cmd.Context(), g, &u, in, prog))
			}
			prog.done()
			sum.Finish(time.Since(t0))
			if err := printSummary(cmd.OutOrStdout(), u.output, sum); err != nil {
				return err
			}
			if sum.FailedFiles > 0 {
				return fmt.Errorf("%d of %d files could not be imported", sum.FailedFiles, len(inputs))
			}
			return nil
		},
	}
	u.register(cmd)
	f := cmd.Flags()
	f.StringVar(&u.s3.S3Endpoint, "s3-endpoint", "", "URL of an S3-compatible server (path-style addressing)")
	f.StringVar(&u.s3.S3Region, "s3-region", "", "S3 region (default AWS_REGION, else us-east-1)")
	return cmd
}

// uploadInput sends one file: hash, ask whether the group has it, stream
// it. Failures are reported in the summary, not returned.
func uploadInput(ctx context.Context, g *globals, u *uploadFlags, in source.Input, prog *progress) importer.FileSummary {
	fs := importer.FileSummary{Source: in.Name}
	t0 := time.Now()
	fail := func(err error) importer.FileSummary {
		fs.Error = err.Error()
		fs.DurationMs = float64(time.Since(t0).Microseconds()) / 1000
		return fs
	}
	cl := g.client()
	sha, err := in.Hash() // local files only; S3 objects are hashed by the server
	if err != nil {
		return fail(err)
	}
	if sha != "" {
		var info flowlog.FileInfo
		dup, err := cl.FlowLogFile(ctx, u.group, sha, &info)
		if err != nil {
			return fail(err)
		}
		if dup {
			fs.SHA256, fs.Duplicate, fs.Bytes = sha, true, in.Size
			return fs
		}
	}
	r, err := in.Open(ctx)
	if err != nil {
		return fail(err)
	}
	defer r.Close()
	body := prog.reader(in.Name, in.Size, r)
	err = cl.UploadFlowLog(ctx, apiclientUpload(u, in, sha), body, &fs)
	if err != nil {
		return fail(err)
	}
	return fs
}

func newFlowLogsWatchCmd(g *globals) *cobra.Command {
	var u uploadFlags
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "watch --group NAME DIR",
		Short: "Follow a directory and import new flow-log files as they appear",
		Long: `Poll DIR (recursively) and import each new .log, .gz, .txt or .parquet file into the
group once it is complete: its size and modification time did not change between two
polls. Files present at start are imported too (the server skips any it already has).
Runs until interrupted; prints one summary line per file.`,
		Example: `  flowlens flowlogs watch --group prod-vpc /var/log/vpc-flow/
  flowlens flowlogs watch --group prod-vpc --interval 10s -o json /mnt/s3-sync/`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := u.check(); err != nil {
				return err
			}
			if st, err := os.Stat(args[0]); err != nil || !st.IsDir() {
				return fmt.Errorf("watch: %s is not a directory", args[0])
			}
			w := source.NewWatcher(source.WatchConfig{Dir: args[0], Interval: interval}, g.logger(),
				func(ctx context.Context, in source.Input) error {
					fs := uploadInput(ctx, g, &u, in, nil)
					if fs.Error != "" {
						return fmt.Errorf("%s", fs.Error)
					}
					return printFileLine(cmd.OutOrStdout(), u.output, &fs)
				})
			return w.Run(cmd.Context())
		},
	}
	u.register(cmd)
	cmd.Flags().DurationVar(&interval, "interval", 2*time.Second, "time between polls")
	return cmd
}

func newFlowLogsGroupsCmd(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "groups",
		Short: "List log groups with their records, size and retention; set retention; delete",
		Example: `  flowlens logs groups -o json
  flowlens logs groups set-retention vpc-prod --days 30
  flowlens logs groups delete vpc-old`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("--output %q: want table or json", output)
			}
			var resp struct {
				Groups []flowlog.Group `json:"groups"`
			}
			if err := g.client().FlowLogGroups(cmd.Context(), &resp); err != nil {
				return err
			}
			if output == "json" {
				return writeJSONOut(cmd.OutOrStdout(), resp.Groups)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "GROUP\tRECORDS\tSTREAMS\tFILES\tBYTES\tRETENTION\tFIRST\tLAST\t")
			for _, gr := range resp.Groups {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t\n", gr.Name, gr.Records, gr.Streams, gr.Files, gr.Bytes,
					retentionText(gr.RetentionDays), unixTime(gr.First), unixTime(gr.Last))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	cmd.AddCommand(newGroupsSetRetentionCmd(g), newGroupsDeleteCmd(g))
	return cmd
}

func retentionText(days int) string {
	if days == 0 {
		return "never"
	}
	return fmt.Sprintf("%dd", days)
}

func newGroupsSetRetentionCmd(g *globals) *cobra.Command {
	var days string
	cmd := &cobra.Command{
		Use:   "set-retention GROUP --days N|never",
		Short: "Keep a log group's records N days (CloudWatch's values), or forever",
		Long: fmt.Sprintf(`Set how long a log group keeps its records, as CloudWatch Logs' PutRetentionPolicy: N is
one of %v, or "never" (the default of a new group). Records older than that are deleted in
whole UTC days by the server's maintenance (every 10 minutes): a record's age is its
@timestamp (its start, else its end, else its file's or ingestion time).`, flowlog.RetentionDays),
		Example: `  flowlens logs groups set-retention vpc-prod --days 30
  flowlens logs groups set-retention vpc-prod --days never`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n := 0
			if days != "never" {
				var err error
				if n, err = strconv.Atoi(days); err != nil || n <= 0 {
					return fmt.Errorf("--days %q: want a number of days or never", days)
				}
			}
			if err := flowlog.CheckRetention(n); err != nil {
				return fmt.Errorf("--days: %w", err)
			}
			var gr flowlog.Group
			if err := g.client().SetFlowLogRetention(cmd.Context(), args[0], n, &gr); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: retention %s\n", gr.Name, retentionText(gr.RetentionDays))
			return nil
		},
	}
	cmd.Flags().StringVar(&days, "days", "", "days to keep records (CloudWatch values), or never")
	cmd.MarkFlagRequired("days") //nolint:errcheck // the flag exists
	return cmd
}

func newGroupsDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "delete GROUP",
		Short:   "Delete a log group with all its files and records",
		Example: `  flowlens logs groups delete vpc-old`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.client().DeleteFlowLogGroup(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: deleted\n", args[0])
			return nil
		},
	}
}

func unixTime(s int64) string {
	if s == 0 {
		return "-"
	}
	return time.Unix(s, 0).UTC().Format(time.RFC3339)
}

func writeJSONOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printSummary prints an import's outcome: one line per file, the bad
// lines reported by the server, and the totals.
func printSummary(w io.Writer, output string, s *importer.Summary) error {
	if output == "json" {
		return writeJSONOut(w, s)
	}
	for i := range s.Files {
		if err := printFileLine(w, output, &s.Files[i]); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "total: %d files, %d records, %d bad lines, %d duplicates, %d failed, %.1f MB in %.2f s (%.0f records/s)\n",
		len(s.Files), s.Records, s.BadLines, s.Duplicates, s.FailedFiles, float64(s.Bytes)/1e6, s.DurationMs/1000, s.RecordsPerSecond)
	return nil
}

func printFileLine(w io.Writer, output string, f *importer.FileSummary) error {
	if output == "json" {
		return json.NewEncoder(w).Encode(f)
	}
	switch {
	case f.Error != "":
		fmt.Fprintf(w, "%s: FAILED: %s\n", f.Source, f.Error)
	case f.Duplicate:
		fmt.Fprintf(w, "%s: already imported into this group (sha256 %.12s...), nothing stored\n", f.Source, f.SHA256)
	default:
		fmt.Fprintf(w, "%s: %d records, %d bad lines, %.1f MB in %.2f s\n", f.Source, f.Records, f.BadLines, float64(f.Bytes)/1e6, f.DurationMs/1000)
	}
	for _, warning := range f.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", warning)
	}
	for _, e := range f.Errors {
		fmt.Fprintf(w, "  %s:%d: %s\n", e.File, e.Line, e.Reason)
	}
	if n := f.BadLines - int64(len(f.Errors)); n > 0 && len(f.Errors) > 0 {
		fmt.Fprintf(w, "  ... and %d more bad lines\n", n)
	}
	return nil
}

// progress draws one status line on stderr while files upload, only when
// stderr is a terminal.
type progress struct {
	w      io.Writer
	on     bool
	files  int
	index  int
	stop   chan struct{}
	status atomic.Pointer[string]
}

func newProgress(f *os.File, files int) *progress {
	p := &progress{w: f, on: isTerminal(f), files: files}
	if p.on {
		p.stop = make(chan struct{})
		go p.draw()
	}
	return p
}

func (p *progress) draw() {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			fmt.Fprint(p.w, "\r\033[K")
			return
		case <-t.C:
			if s := p.status.Load(); s != nil {
				fmt.Fprint(p.w, "\r\033[K"+*s)
			}
		}
	}
}

func (p *progress) done() {
	if p != nil && p.on {
		close(p.stop)
		p.on = false
	}
}

// reader counts what r yields into the status line.
func (p *progress) reader(name string, size int64, r io.Reader) io.Reader {
	if p == nil || !p.on {
		return r
	}
	p.index++
	return &progressReader{p: p, r: r, name: name, size: size, start: time.Now()}
}

type progressReader struct {
	p     *progress
	r     io.Reader
	name  string
	size  int64
	n     int64
	start time.Time
}

func (pr *progressReader) Read(b []byte) (int, error) {
	n, err := pr.r.Read(b)
	pr.n += int64(n)
	rate := float64(pr.n) / 1e6 / max(time.Since(pr.start).Seconds(), 1e-3)
	name := pr.name
	if len(name) > 50 {
		name = "..." + name[len(name)-47:]
	}
	s := fmt.Sprintf("[%d/%d] %s %.1f MB", pr.p.index, pr.p.files, name, float64(pr.n)/1e6)
	if pr.size > 0 {
		s += fmt.Sprintf(" of %.1f MB (%d%%)", float64(pr.size)/1e6, pr.n*100/pr.size)
	}
	s += fmt.Sprintf(", %.1f MB/s", rate)
	pr.p.status.Store(&s)
	return n, err
}

func apiclientUpload(u *uploadFlags, in source.Input, sha string) apiclient.FlowLogUpload {
	return apiclient.FlowLogUpload{Group: u.group, Source: in.Name, Format: u.format, Stream: u.stream, SHA256: sha, Size: in.Size}
}
