package wapisim

import (
	"fmt"
	"net/netip"
)

// networkView is a routing domain. Other objects point at it, so renaming
// it renames it everywhere, as on a grid.
type networkView struct {
	id        int
	name      string
	comment   string
	isDefault bool
	ea        extAttrs
}

func (v *networkView) kind() *kind                   { return kindNetworkView }
func (v *networkView) key() string                   { return fmt.Sprintf("dns.network_view$%d", v.id) }
func (v *networkView) refName() string               { return fmt.Sprintf("%s/%t", v.name, v.isDefault) }
func (v *networkView) sortKey() (netip.Addr, string) { return netip.Addr{}, fmt.Sprintf("%08d", v.id) }
func (v *networkView) attrs() extAttrs               { return v.ea }

func (v *networkView) get(f string) (any, bool) {
	switch f {
	case "name":
		return v.name, true
	case "comment":
		return v.comment, v.comment != ""
	case "is_default":
		return v.isDefault, true
	case "extattrs":
		return v.ea.json(), true
	}
	return nil, false
}

func (d *db) createNetworkView(b body) (record, error) {
	if _, ok := b.str("name"); !ok {
		return nil, protoErr("field for create missing: name")
	}
	v := &networkView{id: d.allocViewID(), ea: extAttrs{}}
	if err := d.applyNetworkView(v, b); err != nil {
		return nil, err
	}
	return v, nil
}

// updateNetworkView changes the view in place (after validating on a copy)
// because other objects hold pointers to it.
func (d *db) updateNetworkView(v *networkView, b body) (record, error) {
	c := *v
	if err := d.applyNetworkView(&c, b); err != nil {
		return nil, err
	}
	*v = c
	return v, nil
}

func (d *db) applyNetworkView(v *networkView, b body) error {
	if name, ok := b.str("name"); ok {
		if name == "" {
			return protoErr("Invalid value for name: \"\"")
		}
		for _, o := range d.views() {
			if o.name == name && o.id != v.id {
				return conflict("Duplicate object '%s' of type network_view already exists in the database.", name)
			}
		}
		v.name = name
	}
	b.setString("comment", &v.comment)
	ea, err := d.applyExtAttrs(v.ea, b)
	if err != nil {
		return err
	}
	v.ea = ea
	return nil
}

// deleteNetworkView removes a view with everything in it, as the grid does.
func (d *db) deleteNetworkView(v *networkView) error {
	if v.isDefault {
		return conflict("The default network view cannot be deleted.")
	}
	for _, n := range d.networks() {
		if n.view == v {
			d.deleteNetwork(n)
		}
	}
	for _, h := range d.hosts() {
		if h.view == v {
			d.remove(h)
		}
	}
	d.remove(v)
	return nil
}
