package wapisim

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
)

// record is one object held by the emulator.
type record interface {
	kind() *kind
	// key is the internal key its reference's refdata encodes; it changes
	// when an update changes the object's identity (e.g. its address).
	key() string
	refName() string
	// get returns a field's value in JSON form, and false when the field
	// has no value (WAPI omits such fields from responses).
	get(field string) (any, bool)
	// sortKey orders list results the way the grid does: by address, then
	// by name.
	sortKey() (netip.Addr, string)
}

// db is the emulator's state. It is not safe for concurrent use; Server
// serializes access with its mutex.
type db struct {
	requireEADefs bool
	nextViewID    int
	recs          map[*kind]map[string]record // kind -> encoded refdata -> record
}

func newDB(requireEADefs bool) *db {
	d := &db{requireEADefs: requireEADefs, recs: map[*kind]map[string]record{}}
	// Every grid has the default network view; it cannot be deleted.
	d.insert(&networkView{id: d.allocViewID(), name: "default", isDefault: true, ea: extAttrs{}})
	return d
}

func (d *db) allocViewID() int {
	id := d.nextViewID
	d.nextViewID++
	return id
}

func (d *db) insert(r record) {
	m := d.recs[r.kind()]
	if m == nil {
		m = map[string]record{}
		d.recs[r.kind()] = m
	}
	m[encodeRefData(r.key())] = r
}

func (d *db) remove(r record) { delete(d.recs[r.kind()], encodeRefData(r.key())) }

// replace swaps an updated copy in for the original, which may have had a
// different key.
func (d *db) replace(old, updated record) {
	d.remove(old)
	d.insert(updated)
}

// lookup resolves a reference. Synthesized objects (ipv4address,
// ipv6address) are rebuilt from their key.
func (d *db) lookup(ref string) (record, error) {
	objType, data, ok := splitRef(ref)
	if !ok {
		return nil, protoErr("Invalid reference: %s", ref)
	}
	k, ok := kinds[objType]
	if !ok {
		return nil, protoErr("Unknown object type (%s)", objType)
	}
	if k == kindIPv4Address || k == kindIPv6Address {
		if r := d.addressFromKey(k, data); r != nil {
			return r, nil
		}
	} else if r, ok := d.recs[k][data]; ok {
		return r, nil
	}
	return nil, notFound("Reference %s not found", ref)
}

// all returns the stored objects of a kind in grid order.
func (d *db) all(k *kind) []record {
	out := make([]record, 0, len(d.recs[k]))
	for _, r := range d.recs[k] {
		out = append(out, r)
	}
	sortRecords(out)
	return out
}

func sortRecords(rs []record) {
	slices.SortFunc(rs, func(a, b record) int {
		aa, an := a.sortKey()
		ba, bn := b.sortKey()
		if c := aa.Compare(ba); c != 0 {
			return c
		}
		return cmp.Compare(an, bn)
	})
}

// typed returns the stored objects of the given kinds as T, in grid order.
func typed[T record](d *db, ks ...*kind) []T {
	var out []T
	for _, k := range ks {
		for _, r := range d.all(k) {
			out = append(out, r.(T))
		}
	}
	return out
}

func (d *db) views() []*networkView { return typed[*networkView](d, kindNetworkView) }

func (d *db) networks() []*network { return typed[*network](d, kindNetwork, kindIPv6Network) }

func (d *db) ranges() []*dhcpRange { return typed[*dhcpRange](d, kindRange, kindIPv6Range) }

func (d *db) fixedAddresses() []*fixedAddress {
	return typed[*fixedAddress](d, kindFixedAddress, kindIPv6FixedAddress)
}

func (d *db) hosts() []*hostRecord { return typed[*hostRecord](d, kindHost) }

// view resolves a network view by name; the empty name is the default view.
func (d *db) view(name string) (*networkView, error) {
	for _, v := range d.views() {
		if v.name == name || name == "" && v.isDefault {
			return v, nil
		}
	}
	return nil, notFound("Network View %s not found", name)
}

// viewByID resolves the numeric view id used inside reference keys.
func (d *db) viewByID(id int) *networkView {
	for _, v := range d.views() {
		if v.id == id {
			return v
		}
	}
	return nil
}

// networkFor returns the network of view that contains addr, or nil.
// Networks in a view never overlap, so there is at most one.
func (d *db) networkFor(v *networkView, addr netip.Addr) *network {
	for _, n := range d.networks() {
		if n.view == v && n.prefix.Contains(addr) {
			return n
		}
	}
	return nil
}

// exactNetwork returns the network of view with exactly this prefix.
func (d *db) exactNetwork(v *networkView, p netip.Prefix) *network {
	for _, n := range d.networks() {
		if n.view == v && n.prefix == p {
			return n
		}
	}
	return nil
}

// body is a decoded JSON request body. Numbers are json.Number.
type body map[string]any

// checkBody rejects unknown fields, fields that cannot be written by this
// operation and values of the wrong JSON type. cur is the object being
// updated (nil on create); a read-only field that repeats cur's value is
// accepted and dropped, because the client echoes such fields back in its
// PUT bodies.
func (k *kind) checkBody(b body, cur record) error {
	delete(b, "_ref") // the client echoes the reference in PUT bodies
	for name, v := range b {
		fname := name
		if cur != nil && (name == "extattrs+" || name == "extattrs-") {
			fname = "extattrs"
		}
		f, ok := k.fields[fname]
		if !ok {
			return protoErr("Unknown argument/field: '%s'", name)
		}
		if !checkType(f.typ, v) {
			return protoErr("Invalid value for %s: %s", name, jsonText(v))
		}
		writable := f.create
		if cur != nil {
			writable = f.update
		}
		if writable {
			continue
		}
		if cur != nil {
			if cv, ok := cur.get(name); ok && sameValue(f, cv, v) {
				delete(b, name)
				continue
			}
		}
		return protoErr("Field is not writable: %s", name)
	}
	return nil
}

func sameValue(f field, a, b any) bool {
	as, aok := a.(string)
	bs, bok := b.(string)
	if aok && bok {
		return normalize(f.norm, as) == normalize(f.norm, bs)
	}
	return jsonText(a) == jsonText(b)
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func (b body) str(name string) (string, bool) {
	s, ok := b[name].(string)
	return s, ok
}

func (b body) flag(name string) (bool, bool) {
	v, ok := b[name].(bool)
	return v, ok
}

// setString assigns a string field if the body has it.
func (b body) setString(name string, dst *string) {
	if s, ok := b.str(name); ok {
		*dst = s
	}
}

// setBool assigns a bool field if the body has it.
func (b body) setBool(name string, dst *bool) {
	if v, ok := b.flag(name); ok {
		*dst = v
	}
}

// passthrough holds fields the emulator stores and returns but does not
// interpret.
type passthrough map[string]any

func (p passthrough) clone() passthrough {
	out := passthrough{}
	for k, v := range p {
		out[k] = v
	}
	return out
}

// take copies the listed fields from b.
func (p passthrough) take(b body, names ...string) {
	for _, n := range names {
		if v, ok := b[n]; ok {
			if v == nil {
				delete(p, n)
				continue
			}
			p[n] = v
		}
	}
}

func (p passthrough) get(name string) (any, bool) {
	v, ok := p[name]
	return v, ok
}

// stringList converts a JSON list of strings.
func stringList(field string, v any) ([]string, error) {
	items, _ := v.([]any)
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, ok := it.(string)
		if !ok {
			return nil, protoErr("Invalid value for %s: %s", field, jsonText(v))
		}
		out = append(out, s)
	}
	return out, nil
}

func anyList[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}
