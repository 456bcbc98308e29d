package web

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowlens/flowlens/insights"
	"github.com/flowlens/flowlens/logquery"
)

func (u *UI) flowlogRoutes(mux *http.ServeMux) {
	mux.Handle("GET /flowlogs", u.page("flowlogs", u.handleFlowLogs))
	mux.Handle("POST /flowlogs", u.page("flowlogs-query", u.handleFlowLogQuery))
	mux.Handle("GET /flowlogs/results.csv", u.page("flowlogs-csv", u.handleFlowLogCSV))
}

// defaultQuery is what the editor holds the first time.
const defaultQuery = `filter action = "REJECT"
| stats count(*) as n by srcAddr
| sort n desc
| limit 20`

// flowlogRanges are the editor's time ranges.
var flowlogRanges = []string{"15m", "1h", "6h", "24h", "7d", "30d"}

type flowlogsData struct {
	base
	Available bool
	Diagnose  bool // the REJECT diagnosis page is there
	Groups    []string
	Group     string
	Since     string
	Ranges    []string
	Query     string
	History   []historyEntry
	Result    *queryResult
	Chart     *chartData
	Err       string
	Ran       bool
}

func (u *UI) flowlogsData(r *http.Request, group, since, query string) flowlogsData {
	d := flowlogsData{base: baseFor(r, "Flow logs", "flowlogs"), Available: u.mods.flowlogs != nil, Diagnose: u.mods.diagnose != nil,
		Group: group, Since: since, Query: query, Ranges: flowlogRanges}
	if d.Since == "" {
		d.Since = "1h"
	}
	if d.Query == "" {
		d.Query = defaultQuery
	}
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	if d.Available {
		var err error
		if d.Groups, err = u.mods.flowlogs.groups(ctx); err != nil {
			d.Err = err.Error()
		}
		if d.Group == "" && len(d.Groups) > 0 {
			d.Group = d.Groups[0]
		}
	}
	if u.history != nil && d.User != "" {
		d.History, _ = u.history.list(ctx, d.User, 20)
	}
	return d
}

func (u *UI) handleFlowLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := u.flowlogsData(r, q.Get("group"), q.Get("since"), q.Get("q"))
	u.pages.render(w, http.StatusOK, "flowlogs", d)
}

func (u *UI) handleFlowLogQuery(w http.ResponseWriter, r *http.Request) {
	group, since, text := r.PostFormValue("group"), r.PostFormValue("since"), strings.TrimSpace(r.PostFormValue("q"))
	d := u.flowlogsData(r, group, since, text)
	if !d.Available {
		u.pages.render(w, http.StatusNotImplemented, "flowlogs", d)
		return
	}
	d.Ran = true
	res, err := u.runQuery(r.Context(), d.Group, d.Since, d.Query)
	if err != nil {
		d.Err = err.Error()
		u.pages.render(w, queryErrorStatus(err, http.StatusUnprocessableEntity), "flowlogs", d)
		return
	}
	if u.history != nil {
		if err := u.history.add(r.Context(), d.User, historyEntry{At: time.Now(), Group: d.Group, Since: d.Since, Query: d.Query}); err != nil {
			u.log.Warn("query history", "err", err)
		}
		d.History, _ = u.history.list(r.Context(), d.User, 20)
	}
	res.BinField = binColumn(res.Fields, d.Query)
	d.Result = res
	d.Chart = binChart(res)
	u.pages.render(w, http.StatusOK, "flowlogs", d)
}

// runQuery runs a query through the query module's engine, under the
// same concurrency limit and timeout as POST /api/v1/query.
func (u *UI) runQuery(ctx context.Context, group, since, text string) (*queryResult, error) {
	if text == "" {
		return nil, fmt.Errorf("the query is empty")
	}
	d, err := insights.ParseDuration(since)
	if err != nil {
		return nil, err
	}
	end := time.Now()
	ctx, cancel := context.WithTimeout(ctx, pageTimeout)
	defer cancel()
	return u.mods.flowlogs.query(ctx, group, text, end.Add(-d), end)
}

// handleFlowLogCSV runs the query again and sends its rows as CSV.
func (u *UI) handleFlowLogCSV(w http.ResponseWriter, r *http.Request) {
	if u.mods.flowlogs == nil {
		http.Error(w, "flow logs are not available in this build", http.StatusNotImplemented)
		return
	}
	q := r.URL.Query()
	res, err := u.runQuery(r.Context(), q.Get("group"), q.Get("since"), q.Get("q"))
	if err != nil {
		http.Error(w, err.Error(), queryErrorStatus(err, http.StatusBadRequest))
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="flowlogs-`+time.Now().UTC().Format("20060102-150405")+`.csv"`)
	cw := csv.NewWriter(w)
	cw.Write(res.Fields)
	for _, row := range res.Rows {
		cw.Write(csvSafe(row))
	}
	cw.Flush()
}

// queryErrorStatus is the HTTP status of a failed query: the query
// engine's slots and timeout (shared with the API) have their own, other
// errors (the query's text, mostly) get def.
func queryErrorStatus(err error, def int) int {
	switch {
	case errors.Is(err, logquery.ErrBusy):
		return http.StatusServiceUnavailable
	case errors.Is(err, logquery.ErrTimeout):
		return http.StatusGatewayTimeout
	}
	return def
}

// csvSafe defuses cells a spreadsheet would run as a formula.
func csvSafe(row []string) []string {
	out := make([]string, len(row))
	for i, c := range row {
		if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
			if _, err := strconv.ParseFloat(c, 64); err != nil {
				c = "'" + c
			}
		}
		out[i] = c
	}
	return out
}

// binChart charts a `stats ... by bin()` answer: the bin column on X and
// one line per numeric column (and per value of any other group column).
func binChart(res *queryResult) *chartData {
	if res == nil || res.BinField == "" {
		return nil
	}
	bin := -1
	for i, f := range res.Fields {
		if f == res.BinField {
			bin = i
		}
	}
	if bin < 0 || len(res.Rows) == 0 {
		return nil
	}
	numeric, groups := classifyColumns(res, bin)
	if len(numeric) == 0 {
		return nil
	}
	times := map[int64]int{}
	var xs []int64
	for _, row := range res.Rows {
		t, ok := parseBinTime(row[bin])
		if !ok {
			return nil
		}
		if _, seen := times[t]; !seen {
			times[t] = 0
			xs = append(xs, t)
		}
	}
	slices.Sort(xs)
	for i, t := range xs {
		times[t] = i
	}
	c := &chartData{Title: "Query result over time", YLabel: strings.Join(fieldNames(res.Fields, numeric), ", "), X: xs, Bars: len(xs) < 40}
	index := map[string]int{}
	for _, row := range res.Rows {
		t, _ := parseBinTime(row[bin])
		var key []string
		for _, g := range groups {
			key = append(key, row[g])
		}
		for _, n := range numeric {
			label := res.Fields[n]
			if len(key) > 0 {
				label = strings.Join(key, " ") + " " + label
			}
			si, ok := index[label]
			if !ok {
				if len(c.Series) >= 12 {
					continue
				}
				si = len(c.Series)
				index[label] = si
				c.Series = append(c.Series, chartSeries{Label: label, Values: make([]*float64, len(xs))})
			}
			if v, err := strconv.ParseFloat(row[n], 64); err == nil {
				c.Series[si].Values[times[t]] = &v
			}
		}
	}
	return c
}

// classifyColumns splits the non-bin columns into numeric ones (every
// non-empty cell parses) and group columns.
func classifyColumns(res *queryResult, bin int) (numeric, groups []int) {
	for i := range res.Fields {
		if i == bin {
			continue
		}
		isNum := true
		for _, row := range res.Rows {
			if row[i] == "" {
				continue
			}
			if _, err := strconv.ParseFloat(row[i], 64); err != nil {
				isNum = false
				break
			}
		}
		if isNum {
			numeric = append(numeric, i)
		} else {
			groups = append(groups, i)
		}
	}
	return numeric, groups
}

func fieldNames(fields []string, idx []int) []string {
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = fields[j]
	}
	return out
}

// parseBinTime reads a bin() cell: RFC 3339, "2006-01-02 15:04:05[.000]",
// or Unix seconds/milliseconds.
func parseBinTime(s string) (int64, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.000", "2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Unix(), true
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > 1e12 {
			n /= 1000
		}
		return n, true
	}
	return 0, false
}

// binAlias finds `bin(...) as name` in a query, for results whose bin
// column was renamed.
var binAlias = regexp.MustCompile(`(?i)\bbin\s*\([^)]*\)\s+as\s+([A-Za-z_@][A-Za-z0-9_.@]*)`)

// binColumn names the column holding a `stats ... by bin()` result: the
// unaliased expression text ("bin(5m)") or the alias the query gives it.
func binColumn(columns []string, query string) string {
	alias := ""
	if m := binAlias.FindStringSubmatch(query); m != nil {
		alias = m[1]
	}
	for _, c := range columns {
		if strings.HasPrefix(strings.ToLower(strings.ReplaceAll(c, " ", "")), "bin(") || (alias != "" && c == alias) {
			return c
		}
	}
	return ""
}
