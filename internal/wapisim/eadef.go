package wapisim

import (
	"encoding/json"
	"net/netip"
	"slices"
)

// eaDef is an extensible attribute definition. Definitions are only
// enforced when Config.RequireEADefinitions is set.
type eaDef struct {
	name       string
	typ        string
	comment    string
	listValues []string
	extra      passthrough
}

var eaTypes = map[string]bool{"STRING": true, "INTEGER": true, "EMAIL": true, "URL": true, "DATE": true, "ENUM": true}

// eaDefExtra are fields stored and returned without interpretation.
var eaDefExtra = []string{"allowed_object_types", "default_value", "flags", "max", "min"}

func (e *eaDef) kind() *kind                   { return kindEADef }
func (e *eaDef) key() string                   { return "one.extensible_attributes_def$." + e.name }
func (e *eaDef) refName() string               { return e.name }
func (e *eaDef) sortKey() (netip.Addr, string) { return netip.Addr{}, e.name }

func (e *eaDef) get(f string) (any, bool) {
	switch f {
	case "name":
		return e.name, true
	case "type":
		return e.typ, true
	case "comment":
		return e.comment, e.comment != ""
	case "list_values":
		out := make([]any, len(e.listValues))
		for i, v := range e.listValues {
			out[i] = map[string]any{"value": v}
		}
		return out, len(out) > 0
	}
	return e.extra.get(f)
}

// accepts reports whether v is a valid value of this attribute.
func (e *eaDef) accepts(v any) bool {
	switch e.typ {
	case "INTEGER":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		_, err := n.Int64()
		return err == nil
	case "ENUM":
		s, ok := v.(string)
		return ok && slices.Contains(e.listValues, s)
	}
	_, ok := v.(string)
	return ok
}

func (d *db) createEADef(b body) (record, error) {
	for _, f := range []string{"name", "type"} {
		if _, ok := b[f]; !ok {
			return nil, protoErr("field for create missing: %s", f)
		}
	}
	e := &eaDef{extra: passthrough{}}
	if err := d.applyEADef(e, nil, b); err != nil {
		return nil, err
	}
	return e, nil
}

func (d *db) updateEADef(e *eaDef, b body) (record, error) {
	c := *e
	c.extra = e.extra.clone()
	if err := d.applyEADef(&c, e, b); err != nil {
		return nil, err
	}
	return &c, nil
}

func (d *db) applyEADef(e, self *eaDef, b body) error {
	b.setString("name", &e.name)
	b.setString("type", &e.typ)
	b.setString("comment", &e.comment)
	if e.name == "" {
		return protoErr("Invalid value for name: \"\"")
	}
	if !eaTypes[e.typ] {
		return protoErr("Invalid value for type: %q", e.typ)
	}
	if v, ok := b["list_values"]; ok {
		items, _ := v.([]any)
		e.listValues = nil
		for _, it := range items {
			m, _ := it.(map[string]any)
			s, ok := m["value"].(string)
			if !ok {
				return protoErr("Invalid value for list_values: %s", jsonText(v))
			}
			e.listValues = append(e.listValues, s)
		}
	}
	e.extra.take(b, eaDefExtra...)
	for _, o := range typed[*eaDef](d, kindEADef) {
		if o != self && o.name == e.name {
			return conflict("Duplicate object '%s' of type extensible attribute definition already exists in the database.", e.name)
		}
	}
	return nil
}
