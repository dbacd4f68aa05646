package wapisim

// create validates a POST body and builds the new object; the caller
// stores it.
func (d *db) create(k *kind, b body) (record, error) {
	if err := k.checkBody(b, nil); err != nil {
		return nil, err
	}
	switch k {
	case kindNetworkView:
		return d.createNetworkView(b)
	case kindNetwork, kindIPv6Network:
		return d.createNetwork(k, b)
	case kindRange, kindIPv6Range:
		return d.createRange(k, b)
	case kindFixedAddress, kindIPv6FixedAddress:
		return d.createFixedAddress(k, b)
	case kindHost:
		return d.createHost(b)
	case kindEADef:
		return d.createEADef(b)
	}
	return nil, protoErr("Operation create not allowed for %s", k.name)
}

// update validates a PUT body and returns the updated object, which the
// caller stores in place of the original.
func (d *db) update(r record, b body) (record, error) {
	if err := r.kind().checkBody(b, r); err != nil {
		return nil, err
	}
	switch r := r.(type) {
	case *networkView:
		return d.updateNetworkView(r, b)
	case *network:
		return d.updateNetwork(r, b)
	case *dhcpRange:
		return d.updateRange(r, b)
	case *fixedAddress:
		return d.updateFixedAddress(r, b)
	case *hostRecord:
		return d.updateHost(r, b)
	case *eaDef:
		return d.updateEADef(r, b)
	}
	return nil, protoErr("Operation update not allowed for %s", r.kind().name)
}

// delete removes an object and whatever the grid removes with it.
func (d *db) delete(r record) error {
	switch r := r.(type) {
	case *networkView:
		return d.deleteNetworkView(r)
	case *network:
		d.deleteNetwork(r)
		return nil
	case *dhcpRange, *fixedAddress, *hostRecord, *eaDef:
		d.remove(r)
		return nil
	}
	return protoErr("Operation delete not allowed for %s", r.kind().name)
}

// add creates and stores an object.
func (d *db) add(k *kind, b body) (record, error) {
	r, err := d.create(k, b)
	if err != nil {
		return nil, err
	}
	d.insert(r)
	return r, nil
}
