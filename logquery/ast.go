package logquery

// Query is a parsed Logs Insights query: commands in order.
type Query struct {
	Src      string
	Commands []Command
	// Source is the SOURCE command that may open the query (nil: none).
	Source *SourceCmd
}

// SourceCmd selects the log groups of a query (CWL_QuerySyntax-Source):
// SOURCE logGroups(namePrefix: ['a', 'b']) reads every group whose name
// starts with one of the prefixes, SOURCE logGroups() every group.
type SourceCmd struct {
	At       Pos
	Prefixes []string
}

// Command is one of the pipeline's commands.
type Command interface{ commandPos() Pos }

// Item is an expression with an optional alias (fields, stats, by).
type Item struct {
	Expr  Expr
	Alias string // "" when none
	Text  string // the expression as written: the default result name
}

// Name is the result name: the alias, else a plain field's name, else the
// expression text.
func (it Item) Name() string {
	if it.Alias != "" {
		return it.Alias
	}
	if f, ok := it.Expr.(*FieldRef); ok {
		return f.Name
	}
	return it.Text
}

type (
	// Fields selects and computes fields.
	Fields struct {
		At    Pos
		Items []Item
	}
	// Display chooses the result fields; the last one wins.
	Display struct {
		At    Pos
		Names []*FieldRef
	}
	// Filter keeps the records for which Cond holds (filter, and
	// filterIndex, which Logs Insights runs as a filter that may use an
	// index: CWL_QuerySyntax-FilterIndex).
	Filter struct {
		At   Pos
		Cond Expr
	}
	// Stats aggregates, optionally by fields and bin(period).
	Stats struct {
		At   Pos
		Aggs []Item
		By   []Item
	}
	// Sort orders by keys.
	Sort struct {
		At   Pos
		Keys []SortKey
	}
	// Limit keeps the first N rows.
	Limit struct {
		At Pos
		N  int
	}
	// ParseCmd extracts fields from Source with a glob ("[*] *" as a, b) or
	// a regex with named groups.
	ParseCmd struct {
		At      Pos
		Source  Expr
		Glob    *StringLit // one of Glob and Regex
		Regex   *RegexLit
		Names   []string
		NamePos []Pos
	}
	// Dedup keeps the first row of each combination of Fields in the
	// current order; rows where any of them is missing are all kept.
	Dedup struct {
		At     Pos
		Fields []*FieldRef
	}
	// PatternCmd clusters the values of Source into patterns
	// (CWL_QuerySyntax-Pattern); with Diff it compares the counts with a
	// previous period (CWL_QuerySyntax-Diff): "diff" alone clusters
	// @message, "pattern X | diff" clusters X.
	PatternCmd struct {
		At     Pos
		Source Expr
		Diff   DiffPeriod
		DiffAt Pos
	}
	// Unnest makes one record per element of the list Source, the
	// element under Into, every other field from the original record; a
	// value that is not a list is a list of one (CWL_QuerySyntax-Unnest).
	Unnest struct {
		At      Pos
		Source  Expr
		Into    string
		IntoPos Pos
	}
)

// DiffPeriod is the period diff compares with (CWL_QuerySyntax-Diff).
type DiffPeriod uint8

const (
	NoDiff         DiffPeriod = iota
	PreviousPeriod            // diff: the period of equal length just before
	PreviousDay               // diff previousDay
	PreviousWeek              // diff previousWeek
	PreviousMonth             // diff previousMonth
)

// SortKey is one sort key.
type SortKey struct {
	Expr Expr
	Desc bool
}

func (c *Fields) commandPos() Pos   { return c.At }
func (c *Display) commandPos() Pos  { return c.At }
func (c *Filter) commandPos() Pos   { return c.At }
func (c *Stats) commandPos() Pos    { return c.At }
func (c *Sort) commandPos() Pos     { return c.At }
func (c *Limit) commandPos() Pos    { return c.At }
func (c *ParseCmd) commandPos() Pos { return c.At }
func (c *Dedup) commandPos() Pos    { return c.At }
func (c *Unnest) commandPos() Pos   { return c.At }
func (c *PatternCmd) commandPos() Pos {
	if c.Diff != NoDiff && c.DiffAt > c.At {
		return c.DiffAt
	}
	return c.At
}

// Expr is an expression node.
type Expr interface{ exprPos() Pos }

type (
	// FieldRef names a field.
	FieldRef struct {
		At   Pos
		Name string
	}
	// StringLit is a quoted string.
	StringLit struct {
		At  Pos
		Val string
	}
	// NumberLit is an integer (IsInt) or a decimal.
	NumberLit struct {
		At    Pos
		Int   int64
		Float float64
		IsInt bool
	}
	// BoolLit is true or false.
	BoolLit struct {
		At  Pos
		Val bool
	}
	// RegexLit is /re/ (RE2 syntax).
	RegexLit struct {
		At Pos
		Re string
	}
	// DurationLit is a period such as 5m, in milliseconds.
	DurationLit struct {
		At   Pos
		Text string
		Ms   int64
	}
	// Star is the * of count(*).
	Star struct{ At Pos }
	// Unary is "-x" or "not x".
	Unary struct {
		At Pos
		Op string // "-" or "not"
		X  Expr
	}
	// Binary is x op y for arithmetic, comparison and and/or.
	Binary struct {
		At   Pos // the operator
		Op   string
		X, Y Expr
	}
	// Like is x like "substr" | /re/, and x =~ /re/.
	Like struct {
		At      Pos
		X       Expr
		Pattern Expr // *StringLit or *RegexLit
		Not     bool
	}
	// In is x in [a, b], x not in [...].
	In struct {
		At   Pos
		X    Expr
		List []Expr
		Not  bool
	}
	// Access reads into a map or list (CWL_QuerySyntax-operations-functions,
	// structure types): Field, a field name that may itself be dotted
	// (json.a.b), then Path, the keys and indexes written after it with
	// brackets (json.list[0].name) or backticks (json.`user.id`).
	Access struct {
		At    Pos
		Field *FieldRef
		Path  []PathElem
	}
	// Call is a function or aggregate call.
	Call struct {
		At   Pos
		End  Pos    // after the closing parenthesis
		Name string // as written
		Args []Expr
	}
)

func (e *FieldRef) exprPos() Pos    { return e.At }
func (e *StringLit) exprPos() Pos   { return e.At }
func (e *NumberLit) exprPos() Pos   { return e.At }
func (e *BoolLit) exprPos() Pos     { return e.At }
func (e *RegexLit) exprPos() Pos    { return e.At }
func (e *DurationLit) exprPos() Pos { return e.At }
func (e *Star) exprPos() Pos        { return e.At }
func (e *Unary) exprPos() Pos       { return e.At }
func (e *Binary) exprPos() Pos      { return e.At }
func (e *Like) exprPos() Pos        { return e.At }
func (e *In) exprPos() Pos          { return e.At }
func (e *Call) exprPos() Pos        { return e.At }
func (e *Access) exprPos() Pos      { return e.At }

// PathElem is one step into a map (Key) or a list (Index, from 0).
type PathElem struct {
	Key     string
	Index   int
	IsIndex bool
}
