package logquery

import "strings"

// Structure types (CWL_QuerySyntax-operations-functions: "Structure
// types", "JSON functions"): jsonParse makes a map or list of a JSON
// text; map.key and list[i] read into it; jsonStringify writes it back;
// unnest (CWL_QuerySyntax-Unnest) makes a record per list element. The
// SQL comes from the dialect; keys and indexes travel as a bound path.

// field is a field of the current scope. A dotted name the scope does
// not have reads into the map of its longest prefix that is one
// (json.a.b: key b of key a of json); otherwise the field is missing
// (null, with a warning).
func (c *compiler) field(e *FieldRef) value {
	if col, ok := c.cur.scope[e.Name]; ok {
		return col.val
	}
	if base, path, ok := c.jsonPrefix(e.Name); ok {
		return jsonPath(c.d, base, path)
	}
	return c.missingField(e)
}

// jsonPrefix splits name into the longest prefix the scope has and the
// keys after it, when that prefix is a map or list.
func (c *compiler) jsonPrefix(name string) (value, []PathElem, bool) {
	for i := strings.LastIndexByte(name, '.'); i > 0; i = strings.LastIndexByte(name[:i], '.') {
		col, ok := c.cur.scope[name[:i]]
		if !ok {
			continue
		}
		if col.val.kind != KindJSON {
			return value{}, nil, false
		}
		var path []PathElem
		for _, k := range strings.Split(name[i+1:], ".") {
			if k == "" {
				return value{}, nil, false
			}
			path = append(path, PathElem{Key: k})
		}
		return col.val, path, true
	}
	return value{}, nil, false
}

// access compiles x[i], x[i].key and x.`key`: the field (itself perhaps
// a path, see field) must be a map or list.
func (c *compiler) access(e *Access) (value, error) {
	var base value
	var path []PathElem
	if col, ok := c.cur.scope[e.Field.Name]; ok {
		base = col.val
	} else if b, p, ok := c.jsonPrefix(e.Field.Name); ok {
		base, path = b, p
	} else {
		return c.missingField(e.Field), nil
	}
	if base.missing {
		return base, nil
	}
	if base.kind != KindJSON {
		return value{}, c.errAt(e.At, "%s is a %s, not a map or list: make one with jsonParse(%s)", e.Field.Name, base.kind, e.Field.Name)
	}
	return jsonPath(c.d, base, append(path, e.Path...)), nil
}

func jsonPath(d Dialect, base value, path []PathElem) value {
	return value{f: d.JSONPath(base.f, path), kind: KindJSON, agg: base.agg}
}

// jsonFunc compiles jsonParse and jsonStringify.
func (c *compiler) jsonFunc(e *Call, name string, arg value) (frag, Kind, error) {
	if name == "jsonparse" {
		if arg.kind == KindJSON {
			return arg.f, KindJSON, nil // already a map or list
		}
		return c.d.JSONParse(c.str(arg)), KindJSON, nil
	}
	switch {
	case arg.kind == KindJSON:
		return c.d.JSONStringify(arg.f), KindString, nil
	case arg.missing:
		return arg.f, KindString, nil
	}
	return frag{}, 0, c.errAt(e.Args[0].exprPos(), "jsonStringify takes a map or list (made by jsonParse), found a %s", arg.kind)
}

// unnestCmd makes a record per element of a list. The list is a column
// of the current stage (the dialect reads it several times); the next
// stage has the unnest in its SELECT list (rendered even when unused: it
// changes the rows) and nothing else, so the filters before unnest still
// count the records matched; the stage after it sees the element as a
// column, which later commands filter and group by.
func (c *compiler) unnestCmd(cmd *Unnest) error {
	if c.cur.agg {
		c.wrap()
	}
	v, err := c.expr(cmd.Source, ctxRow)
	if err != nil {
		return err
	}
	list := c.cur.export(v.f)
	c.wrap()
	f := c.d.UnnestValue(c.colRef(list))
	if v.kind == KindJSON {
		f = c.d.UnnestJSON(c.colRef(list))
	}
	s := c.cur
	e := s.export(f)
	e.force = true
	s.define(cmd.Into, value{f: f, kind: v.kind}).exp = e
	c.addDisplay(cmd.Into)
	c.wrap()
	return nil
}
