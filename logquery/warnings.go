package logquery

import (
	"strings"
	"unicode/utf8"
)

// Warnings are hints about a query that ran: a field no record of the
// queried groups has is empty (null) for every record, as in Logs
// Insights, and the closest known name is suggested beside it instead of
// refusing the query.

// maxWarnings bounds the hints of one query (one per unknown name).
const maxWarnings = 20

// missingField is the value of a field the current stage does not have:
// null for every record (CloudWatch: a field a log event lacks is empty).
// It records a warning at the first use of each name.
func (c *compiler) missingField(f *FieldRef) value {
	if c.warned == nil {
		c.warned = map[string]bool{}
	}
	if !c.warned[f.Name] && len(c.warnings) < maxWarnings {
		c.warned[f.Name] = true
		msg := "field " + quoteName(f.Name) + " is in no record at this point of the query: it is empty (null) for every record"
		if best := closestName(f.Name, c.cur.names); best != "" {
			msg += "; did you mean " + quoteName(best) + "?"
		}
		c.warnings = append(c.warnings, c.errAt(f.At, "%s", msg).Error())
	}
	return value{f: c.d.Cast(frag{sql: "NULL"}, TypeVarchar), kind: KindString, missing: true}
}

func quoteName(s string) string { return `"` + s + `"` }

// closestName is the known name nearest to name (case-insensitive edit
// distance at most a third of its length, at least 1), or "".
func closestName(name string, known []string) string {
	best, bestD := "", utf8.RuneCountInString(name)/3
	if bestD < 1 {
		bestD = 1
	}
	bestD++
	for _, k := range known {
		if d := editDistance(strings.ToLower(name), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
