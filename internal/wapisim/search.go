package wapisim

import (
	"cmp"
	"encoding/json"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// cond is one search argument, e.g. "name~=^web" or "*Site=lab".
type cond struct {
	field string // field name, or attribute name when ea
	ea    bool
	op    byte // '=', '~' (regular expression), '<' (<=) or '>' (>=)
	ci    bool // ':' modifier: case-insensitive
	not   bool // '!' modifier: negation
	value string
	re    *regexp.Regexp
	norm  normKind
}

// controlArgs are the underscore arguments the emulator understands.
var controlArgs = map[string]bool{
	"_return_fields": true, "_return_fields+": true, "_max_results": true,
	"_return_as_object": true, "_proxy_search": true, "_function": true,
}

func checkControlArgs(q url.Values) error {
	for key := range q {
		if strings.HasPrefix(key, "_") && !controlArgs[key] {
			return protoErr("Unknown argument/field: '%s'", key)
		}
	}
	return nil
}

// parseConds turns the non-underscore arguments of a query into search
// conditions. WAPI search modifiers end the argument name, so "name~=x"
// arrives as key "name~". Repeated arguments must all match.
func parseConds(k *kind, q url.Values) ([]cond, error) {
	var conds []cond
	for key, vals := range q {
		if strings.HasPrefix(key, "_") {
			continue
		}
		name := strings.TrimRight(key, "!:~<>")
		mods := key[len(name):]
		c := cond{field: name, op: '='}
		for _, m := range mods {
			switch m {
			case '!':
				c.not = true
			case ':':
				c.ci = true
			default:
				if c.op != '=' {
					return nil, protoErr("Invalid search modifier in '%s'", key)
				}
				c.op = byte(m)
			}
		}
		if strings.HasPrefix(name, "*") {
			if _, ok := k.fields["extattrs"]; !ok {
				return nil, protoErr("Unknown argument/field: '%s'", key)
			}
			c.ea, c.field = true, name[1:]
		} else {
			f, ok := k.fields[name]
			if !ok {
				return nil, protoErr("Unknown argument/field: '%s'", name)
			}
			if !searchable(f, c) {
				return nil, protoErr("Field is not searchable with this modifier: %s", key)
			}
			c.norm = f.norm
		}
		for _, v := range vals {
			vc := c
			vc.value = v
			switch vc.op {
			case '=':
				vc.value = normalize(vc.norm, v)
			case '~':
				expr := v
				if vc.ci {
					expr = "(?i)" + expr
				}
				re, err := regexp.Compile(expr)
				if err != nil {
					return nil, protoErr("Invalid regular expression: %s", v)
				}
				vc.re = re
			}
			conds = append(conds, vc)
		}
	}
	return conds, nil
}

func searchable(f field, c cond) bool {
	if f.search == "" {
		return false
	}
	if c.ci && !strings.ContainsRune(f.search, ':') {
		return false
	}
	return strings.ContainsRune(f.search, rune(c.op))
}

func filter(rs []record, conds []cond) []record {
	var out []record
	for _, r := range rs {
		if matchAll(r, conds) {
			out = append(out, r)
		}
	}
	return out
}

func matchAll(r record, conds []cond) bool {
	for _, c := range conds {
		if !c.match(r) {
			return false
		}
	}
	return true
}

// attrHolder is a record with extensible attributes.
type attrHolder interface{ attrs() extAttrs }

func (c cond) match(r record) bool {
	var vals []string
	switch {
	case c.ea:
		if h, ok := r.(attrHolder); ok {
			vals = flatten(h.attrs()[c.field])
		}
	case c.field == "contains_address":
		n, _ := r.(*network)
		a, err := netip.ParseAddr(c.value)
		return (n != nil && err == nil && n.prefix.Contains(a)) != c.not
	default:
		v, _ := r.get(c.field)
		vals = flatten(v)
	}
	hit := slices.ContainsFunc(vals, c.test)
	return hit != c.not
}

func (c cond) test(v string) bool {
	switch c.op {
	case '~':
		return c.re.MatchString(v)
	case '<':
		return compareValues(v, c.value) <= 0
	case '>':
		return compareValues(v, c.value) >= 0
	}
	v = normalize(c.norm, v)
	if c.ci || v == "true" || v == "false" {
		return strings.EqualFold(v, c.value)
	}
	return v == c.value
}

// compareValues orders addresses as addresses, integers as integers and
// everything else as strings.
func compareValues(a, b string) int {
	if x, err := netip.ParseAddr(a); err == nil {
		if y, err := netip.ParseAddr(b); err == nil {
			return x.Compare(y)
		}
	}
	if x, err := strconv.ParseInt(a, 10, 64); err == nil {
		if y, err := strconv.ParseInt(b, 10, 64); err == nil {
			return cmp.Compare(x, y)
		}
	}
	return strings.Compare(a, b)
}

// flatten turns a JSON value into the strings searches and function
// arguments compare: scalars become one string, lists are flattened and
// objects are ignored.
func flatten(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case bool:
		return []string{strconv.FormatBool(v)}
	case json.Number:
		return []string{v.String()}
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return nil
}

// returnFields resolves _return_fields and _return_fields+ against the
// kind's basic fields.
func returnFields(k *kind, q url.Values) ([]string, error) {
	fields := k.basic
	if v, ok := q["_return_fields"]; ok {
		fields = splitList(v)
	}
	if v, ok := q["_return_fields+"]; ok {
		fields = append(slices.Clone(fields), splitList(v)...)
	}
	for _, name := range fields {
		if f, ok := k.fields[name]; !ok || f.hidden {
			return nil, protoErr("Unknown argument/field: '%s'", name)
		}
	}
	return fields, nil
}

func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// render builds the JSON object for r with the given fields; "_ref" is
// always included and fields without a value are left out.
func render(r record, fields []string) map[string]any {
	m := map[string]any{"_ref": makeRef(r)}
	for _, f := range fields {
		if v, ok := r.get(f); ok {
			m[f] = v
		}
	}
	return m
}

// defaultMaxResults is NIOS's default _max_results: fail, rather than
// truncate, beyond 1000 results.
const defaultMaxResults = -1000

func maxResults(q url.Values) (int, error) {
	s := q.Get("_max_results")
	if s == "" {
		return defaultMaxResults, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n == 0 {
		return 0, protoErr("Invalid value for _max_results: %q", s)
	}
	return n, nil
}

// search implements GET objtype?args.
func (d *db) search(k *kind, q url.Values) ([]any, error) {
	fields, err := returnFields(k, q)
	if err != nil {
		return nil, err
	}
	conds, err := parseConds(k, q)
	if err != nil {
		return nil, err
	}
	max, err := maxResults(q)
	if err != nil {
		return nil, err
	}
	limit := max
	if limit < 0 {
		limit = -limit
	}
	var found []record
	if k == kindIPv4Address || k == kindIPv6Address {
		found, err = d.searchAddresses(k, conds, limit)
		if err != nil {
			return nil, err
		}
	} else {
		found = filter(d.all(k), conds)
	}
	if len(found) > limit {
		if max < 0 {
			return nil, protoErr("Result set too large (> %d)", limit)
		}
		found = found[:limit]
	}
	out := make([]any, len(found))
	for i, r := range found {
		out[i] = render(r, fields)
	}
	return out, nil
}
