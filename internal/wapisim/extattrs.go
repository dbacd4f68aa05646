package wapisim

import "encoding/json"

// extAttrs maps an extensible attribute name to its value: a string, a
// json.Number, or a []any of those for multi-value attributes.
type extAttrs map[string]any

func (ea extAttrs) clone() extAttrs {
	out := extAttrs{}
	for k, v := range ea {
		out[k] = v
	}
	return out
}

// json renders the attributes in WAPI form: {"Name": {"value": v}}.
func (ea extAttrs) json() map[string]any {
	out := map[string]any{}
	for k, v := range ea {
		out[k] = map[string]any{"value": v}
	}
	return out
}

// applyExtAttrs returns cur changed by the body's "extattrs" (replace all),
// "extattrs+" (add or change) and "extattrs-" (remove) members.
func (d *db) applyExtAttrs(cur extAttrs, b body) (extAttrs, error) {
	out := cur.clone()
	if v, ok := b["extattrs"]; ok {
		set, err := d.parseExtAttrs("extattrs", v)
		if err != nil {
			return nil, err
		}
		out = set
	}
	if v, ok := b["extattrs+"]; ok {
		add, err := d.parseExtAttrs("extattrs+", v)
		if err != nil {
			return nil, err
		}
		for k, val := range add {
			out[k] = val
		}
	}
	if v, ok := b["extattrs-"]; ok {
		m, _ := v.(map[string]any)
		for k := range m {
			delete(out, k)
		}
	}
	return out, nil
}

func (d *db) parseExtAttrs(field string, v any) (extAttrs, error) {
	m, ok := v.(map[string]any)
	if !ok && v != nil {
		return nil, protoErr("Invalid value for %s: %s", field, jsonText(v))
	}
	out := extAttrs{}
	for name, raw := range m {
		entry, ok := raw.(map[string]any)
		val, has := entry["value"]
		if !ok || !has || !validEAValue(val) {
			return nil, protoErr("Invalid value for extensible attribute %s: %s", name, jsonText(raw))
		}
		if err := d.checkEADef(name, val); err != nil {
			return nil, err
		}
		out[name] = val
	}
	return out, nil
}

func validEAValue(v any) bool {
	switch v := v.(type) {
	case string, json.Number:
		return true
	case []any:
		for _, e := range v {
			if !validEAValue(e) || isList(e) {
				return false
			}
		}
		return len(v) > 0
	}
	return false
}

func isList(v any) bool { _, ok := v.([]any); return ok }

// checkEADef enforces extensible attribute definitions when the emulator is
// configured to require them, as a real grid always does.
func (d *db) checkEADef(name string, val any) error {
	if !d.requireEADefs {
		return nil
	}
	var def *eaDef
	for _, e := range typed[*eaDef](d, kindEADef) {
		if e.name == name {
			def = e
		}
	}
	if def == nil {
		return protoErr("Unknown extensible attribute: %s", name)
	}
	vals := []any{val}
	if l, ok := val.([]any); ok {
		vals = l
	}
	for _, v := range vals {
		if !def.accepts(v) {
			return protoErr("Invalid value for extensible attribute %s: %s", name, jsonText(v))
		}
	}
	return nil
}

// exportExtAttrs converts stored values for the inspection API: numbers
// become int64 (or float64), lists stay []any.
func exportExtAttrs(ea extAttrs) map[string]any {
	out := map[string]any{}
	for k, v := range ea {
		out[k] = exportEAValue(v)
	}
	return out
}

func exportEAValue(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = exportEAValue(e)
		}
		return out
	}
	return v
}

// importExtAttrs converts seed-API values (strings, integers, lists of
// them) to stored form.
func importExtAttrs(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = map[string]any{"value": importEAValue(v)}
	}
	return out
}

func importEAValue(v any) any {
	switch v := v.(type) {
	case int:
		return json.Number(jsonText(v))
	case int64:
		return json.Number(jsonText(v))
	case []string:
		return anyList(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = importEAValue(e)
		}
		return out
	}
	return v
}
