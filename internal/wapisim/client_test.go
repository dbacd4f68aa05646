package wapisim_test

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	ibclient "github.com/infobloxopen/infoblox-go-client/v2"
	"github.com/provider-ipam/provider-ipam/internal/wapisim"
)

// These tests drive the emulator with the real infoblox-go-client over
// HTTPS on loopback.

func TestAllocateIP(t *testing.T) {
	hostOn := func(ip string) func(*testing.T, *env) {
		return func(t *testing.T, e *env) {
			_, err := e.om.CreateHostRecord(false, false, "h.example.com", "default", "", "", "", ip, "", "", "", false, 0, "", nil, nil, false)
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	reserved := func(ips ...string) func(*testing.T, *env) {
		return func(t *testing.T, e *env) {
			for _, ip := range ips {
				if _, err := e.reserve(ip, "", nil); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	tests := []struct {
		name    string
		setup   func(*testing.T, *env)
		view    string
		cidr    string
		ip      func(*env) string // explicit address or func:nextavailableip form
		want    string
		wantErr []string
	}{
		{name: "first free address skips the network address", cidr: "192.0.2.0/24", want: "192.0.2.1"},
		{name: "skips fixed addresses", setup: reserved("192.0.2.1", "192.0.2.2"), cidr: "192.0.2.0/24", want: "192.0.2.3"},
		{name: "skips host record addresses", setup: hostOn("192.0.2.1"), cidr: "192.0.2.0/24", want: "192.0.2.2"},
		{name: "network allocation skips DHCP ranges", cidr: "198.51.100.0/24", want: "198.51.100.101"},
		{name: "last usable address before broadcast", setup: reserved("203.0.113.1"), cidr: "203.0.113.0/30", want: "203.0.113.2"},
		{
			name: "range form allocates inside the range",
			ip:   func(*env) string { return "func:nextavailableip:198.51.100.1-198.51.100.100,default" },
			want: "198.51.100.1",
		},
		{
			name: "network reference form",
			ip:   func(e *env) string { return "func:nextavailableip:" + e.net192 },
			want: "192.0.2.1",
		},
		{
			name:  "range reference form skips reservations in the range",
			setup: reserved("198.51.100.1"),
			ip:    func(e *env) string { return "func:nextavailableip:" + e.range198 },
			want:  "198.51.100.2",
		},
		{name: "specific address", ip: func(*env) string { return "192.0.2.77" }, want: "192.0.2.77"},
		{
			name: "exhausted network", setup: reserved("203.0.113.1", "203.0.113.2"), cidr: "203.0.113.0/30",
			wantErr: []string{"400", "Client.Ibap.Data", "Cannot find 1 available IP address(es) in this network."},
		},
		{
			name: "exhausted range",
			setup: func(t *testing.T, e *env) {
				must(t)(e.srv.AddRange("", "198.51.100.150", "198.51.100.151", wapisim.RangeOptions{}))
				reserved("198.51.100.150", "198.51.100.151")(t, e)
			},
			ip:      func(*env) string { return "func:nextavailableip:198.51.100.150-198.51.100.151,default" },
			wantErr: []string{"Cannot find 1 available IP address(es) in this range."},
		},
		{
			name:    "unknown range",
			ip:      func(*env) string { return "func:nextavailableip:198.51.100.99-198.51.100.100,default" },
			wantErr: []string{"Cannot find range 198.51.100.99-198.51.100.100 in network view default."},
		},
		{name: "unknown network", cidr: "10.9.9.0/24", wantErr: []string{"400", "Cannot find network 10.9.9.0/24 in network view default"}},
		{
			name: "unknown network view", view: "nope", cidr: "192.0.2.0/24",
			wantErr: []string{"404", "AdmConDataNotFoundError: Network View nope not found"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.setup != nil {
				tt.setup(t, e)
			}
			view, ip := tt.view, ""
			if view == "" {
				view = "default"
			}
			if tt.ip != nil {
				ip = tt.ip(e)
			}
			fa, err := e.om.AllocateIP(view, tt.cidr, ip, false, "", "", "", nil, "", "", "", nil, "", false, nil, false)
			if tt.wantErr != nil {
				wantErr(t, err, tt.wantErr...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fa.IPv4Address != tt.want {
				t.Errorf("allocated %s, want %s", fa.IPv4Address, tt.want)
			}
			if got := ibclient.GetIPAddressFromRef(fa.Ref); got != tt.want {
				t.Errorf("reference %s names %q, want %s", fa.Ref, got, tt.want)
			}
		})
	}
}

func TestFixedAddressLifecycle(t *testing.T) {
	e := newEnv(t)
	fa := e.allocate(t, "192.0.2.0/24", ibclient.EA{"VM ID": "vm-1", "Site": "lab", "Rack": 7})
	if fa.Cidr != "192.0.2.0/24" || fa.NetviewName != "default" || *fa.Mac != "00:00:00:00:00:00" {
		t.Errorf("created %+v", fa)
	}
	if fa.Ea["Rack"] != 7 {
		t.Errorf("integer attribute came back as %#v", fa.Ea["Rack"])
	}

	got, err := e.om.GetFixedAddress("default", "192.0.2.0/24", fa.IPv4Address, false, "")
	if err != nil || got.Ref != fa.Ref {
		t.Fatalf("GetFixedAddress = %+v, %v; want ref %s", got, err, fa.Ref)
	}
	if _, err := e.om.GetFixedAddress("default", "192.0.2.0/24", fa.IPv4Address, false, "aa:bb:cc:dd:ee:ff"); err == nil {
		t.Error("GetFixedAddress with another MAC found the address")
	}

	found, err := e.om.SearchObjectByAltId("FixedAddress", "", "vm-1", "VM ID")
	if err != nil {
		t.Fatal(err)
	}
	if byID := (*found.(*any)).(*ibclient.FixedAddress); byID.Ref != fa.Ref {
		t.Errorf("SearchObjectByAltId found %s, want %s", byID.Ref, fa.Ref)
	}
	e.allocate(t, "192.0.2.0/24", ibclient.EA{"Site": "dc1"})
	bySite, err := e.om.GetAllFixedAddress(ibclient.NewQueryParams(false, map[string]string{"*Site": "lab"}), false)
	if err != nil || len(bySite) != 1 || bySite[0].Ref != fa.Ref {
		t.Fatalf("GetAllFixedAddress(*Site=lab) = %+v, %v", bySite, err)
	}

	upd, err := e.om.UpdateFixedAddress(fa.Ref, "default", "vm-1.example.com", "", "", "MAC_ADDRESS",
		"00:00:00:00:00:00", "updated", ibclient.EA{"VM ID": "vm-1", "Site": "dc1"}, "", "", nil, "", false, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if upd.Ref != fa.Ref || *upd.Name != "vm-1.example.com" || upd.Comment != "updated" || upd.Ea["Site"] != "dc1" || upd.Ea["Rack"] != nil {
		t.Errorf("updated %+v", upd)
	}
	snap := e.srv.FixedAddresses()[0]
	if snap.Name != "vm-1.example.com" || snap.ExtAttrs["Site"] != "dc1" {
		t.Errorf("server holds %+v", snap)
	}

	// Updating with a CIDR moves the reservation to the next free address,
	// which changes its reference.
	moved, err := e.om.UpdateFixedAddress(fa.Ref, "default", "vm-1.example.com", "192.0.2.0/24", "", "MAC_ADDRESS",
		"00:00:00:00:00:00", "updated", ibclient.EA{"VM ID": "vm-1"}, "", "", nil, "", false, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if moved.IPv4Address != "192.0.2.3" || moved.Ref == fa.Ref {
		t.Errorf("moved to %s (%s)", moved.IPv4Address, moved.Ref)
	}
	var nf *ibclient.NotFoundError
	if _, err := e.om.GetFixedAddressByRef(fa.Ref); !errors.As(err, &nf) {
		t.Errorf("old reference: got %v, want a NotFoundError", err)
	}

	deleted, err := e.om.DeleteFixedAddress(moved.Ref)
	if err != nil || deleted != moved.Ref {
		t.Fatalf("DeleteFixedAddress = %q, %v", deleted, err)
	}
	if _, err := e.om.GetFixedAddressByRef(moved.Ref); !errors.As(err, &nf) {
		t.Errorf("after delete: got %v, want a NotFoundError", err)
	}
	if _, err := e.om.DeleteFixedAddress(moved.Ref); !errors.As(err, &nf) {
		t.Errorf("second delete: got %v, want a NotFoundError", err)
	}
	if n := e.srv.ObjectCount("fixedaddress"); n != 1 {
		t.Errorf("%d fixed addresses left, want 1", n)
	}
}

func TestReleaseIP(t *testing.T) {
	e := newEnv(t)
	fa, err := e.reserve("192.0.2.9", "aa:bb:cc:dd:ee:09", nil)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := e.om.ReleaseIP("default", "192.0.2.0/24", "192.0.2.9", false, "AA-BB-CC-DD-EE-09")
	if err != nil || ref != fa.Ref {
		t.Fatalf("ReleaseIP = %q, %v; want %s", ref, err, fa.Ref)
	}
	if n := e.srv.ObjectCount("fixedaddress"); n != 0 {
		t.Errorf("%d fixed addresses left", n)
	}
}

func TestConflicts(t *testing.T) {
	mac1 := "aa:bb:cc:dd:ee:01"
	tests := []struct {
		name    string
		setup   func(*env) error
		act     func(*env) error
		wantErr []string // nil: the action succeeds
	}{
		{
			name:    "same address reserved twice",
			setup:   func(e *env) error { _, err := e.reserve("192.0.2.10", "", nil); return err },
			act:     func(e *env) error { _, err := e.reserve("192.0.2.10", "", nil); return err },
			wantErr: []string{"400", "IBDataConflictError: IB.Data.Conflict:The IP address 192.0.2.10 cannot be used for the fixed address", "Client.Ibap.Data.Conflict"},
		},
		{
			name:    "address outside every network",
			act:     func(e *env) error { _, err := e.reserve("10.255.0.1", "", nil); return err },
			wantErr: []string{"400", "Cannot find a network for the IP address 10.255.0.1 in network view default"},
		},
		{
			name:    "network address",
			act:     func(e *env) error { _, err := e.reserve("192.0.2.0", "", nil); return err },
			wantErr: []string{"IB.Data.Conflict", "network or broadcast address"},
		},
		{
			name:    "broadcast address",
			act:     func(e *env) error { _, err := e.reserve("192.0.2.255", "", nil); return err },
			wantErr: []string{"IB.Data.Conflict", "network or broadcast address"},
		},
		{
			name: "unknown network view",
			act: func(e *env) error {
				_, err := e.om.AllocateIP("nope", "", "192.0.2.10", false, "", "", "", nil, "", "", "", nil, "", false, nil, false)
				return err
			},
			wantErr: []string{"404", "Client.Ibap.Data.NotFound", "Network View nope not found"},
		},
		{
			name:    "MAC address used twice in a network",
			setup:   func(e *env) error { _, err := e.reserve("192.0.2.10", mac1, nil); return err },
			act:     func(e *env) error { _, err := e.reserve("192.0.2.11", mac1, nil); return err },
			wantErr: []string{"MAC address aa:bb:cc:dd:ee:01 is used in two fixed addresses 192.0.2.10 and 192.0.2.11, which are in the same network 192.0.2.0/24."},
		},
		{
			name:  "same MAC in different networks",
			setup: func(e *env) error { _, err := e.reserve("192.0.2.10", mac1, nil); return err },
			act:   func(e *env) error { _, err := e.reserve("198.51.100.200", mac1, nil); return err },
		},
		{
			name:  "zero MAC may repeat",
			setup: func(e *env) error { _, err := e.reserve("192.0.2.10", "", nil); return err },
			act:   func(e *env) error { _, err := e.reserve("192.0.2.11", "", nil); return err },
		},
		{
			name: "DHCP host address blocks a fixed address",
			setup: func(e *env) error {
				_, err := e.om.CreateHostRecord(false, true, "dhcp.example.com", "default", "", "", "", "192.0.2.20", "", mac1, "", false, 0, "", nil, nil, false)
				return err
			},
			act:     func(e *env) error { _, err := e.reserve("192.0.2.20", "", nil); return err },
			wantErr: []string{"IB.Data.Conflict", "already used by the host record 'dhcp.example.com'"},
		},
		{
			name: "host address without DHCP does not block a fixed address",
			setup: func(e *env) error {
				_, err := e.om.CreateHostRecord(false, false, "plain.example.com", "default", "", "", "", "192.0.2.21", "", "", "", false, 0, "", nil, nil, false)
				return err
			},
			act: func(e *env) error { _, err := e.reserve("192.0.2.21", "", nil); return err },
		},
		{
			name: "fixed address blocks a DHCP host address",
			setup: func(e *env) error {
				_, err := e.reserve("192.0.2.22", "", nil)
				return err
			},
			act: func(e *env) error {
				_, err := e.om.CreateHostRecord(false, true, "dhcp.example.com", "default", "", "", "", "192.0.2.22", "", mac1, "", false, 0, "", nil, nil, false)
				return err
			},
			wantErr: []string{"IB.Data.Conflict", "cannot be used for the host record"},
		},
		{
			name: "duplicate network",
			act: func(e *env) error {
				_, err := e.om.CreateNetwork("default", "192.0.2.0/24", false, "", nil)
				return err
			},
			wantErr: []string{"Duplicate object '192.0.2.0/24' of type network"},
		},
		{
			name: "overlapping network",
			act: func(e *env) error {
				_, err := e.om.CreateNetwork("default", "192.0.2.128/25", false, "", nil)
				return err
			},
			wantErr: []string{"overlaps with the existing network 192.0.2.0/24"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.setup != nil {
				if err := tt.setup(e); err != nil {
					t.Fatal(err)
				}
			}
			before := e.srv.ObjectCount("fixedaddress")
			err := tt.act(e)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantErr(t, err, tt.wantErr...)
			if after := e.srv.ObjectCount("fixedaddress"); after != before {
				t.Errorf("a rejected request changed the fixed addresses from %d to %d", before, after)
			}
		})
	}
}

func TestHostRecord(t *testing.T) {
	e := newEnv(t)
	h, err := e.om.CreateHostRecord(false, false, "web1.example.com", "default", "default", "192.0.2.0/24", "2001:db8::/64",
		"", "", "", "", false, 0, "web", ibclient.EA{"VM ID": "web-1"}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Ipv4Addrs) != 1 || *h.Ipv4Addrs[0].Ipv4Addr != "192.0.2.1" || len(h.Ipv6Addrs) != 1 || *h.Ipv6Addrs[0].Ipv6Addr != "2001:db8::1" {
		t.Fatalf("created %+v", h)
	}
	if ip, err := e.om.GetIpAddressFromHostRecord(*h); err != nil || ip != "192.0.2.1" {
		t.Errorf("GetIpAddressFromHostRecord = %q, %v", ip, err)
	}
	got, err := e.om.GetHostRecord("default", "", "web1.example.com", "192.0.2.1", "")
	if err != nil || got.Ref != h.Ref {
		t.Fatalf("GetHostRecord = %+v, %v", got, err)
	}
	byID, err := e.om.SearchHostRecordByAltId("web-1", "", "VM ID")
	if err != nil || byID.Ref != h.Ref {
		t.Fatalf("SearchHostRecordByAltId = %+v, %v", byID, err)
	}

	// A second host gets the next addresses.
	h2, err := e.om.CreateHostRecord(false, false, "web2.example.com", "default", "default", "192.0.2.0/24", "", "", "", "", "", false, 0, "", nil, nil, false)
	if err != nil || *h2.Ipv4Addrs[0].Ipv4Addr != "192.0.2.2" {
		t.Fatalf("second host: %+v, %v", h2, err)
	}

	// Updating replaces the address lists: the IPv6 address goes away.
	upd, err := e.om.UpdateHostRecord(h.Ref, false, false, "web1.example.com", "default", "", "", "", "192.0.2.1", "", "", "",
		false, 0, "updated", ibclient.EA{"VM ID": "web-1", "Owner": "team-a"}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(upd.Ipv6Addrs) != 0 || upd.Ea["Owner"] != "team-a" || *upd.Comment != "updated" {
		t.Errorf("updated %+v", upd)
	}

	dns, err := e.om.CreateHostRecord(true, false, "db1.example.com", "default", "default", "192.0.2.0/24", "", "", "", "", "", false, 0, "", nil, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(dns.Ref, ":db1.example.com/default") || dns.Zone != "example.com" || *dns.View != "default" {
		t.Errorf("DNS host %s zone %q view %q", dns.Ref, dns.Zone, *dns.View)
	}
	_, err = e.om.CreateHostRecord(true, false, "db1.example.com", "default", "default", "192.0.2.0/24", "", "", "", "", "", false, 0, "", nil, nil, false)
	wantErr(t, err, "The record 'db1.example.com' already exists.")

	if ref, err := e.om.DeleteHostRecord(h.Ref); err != nil || ref != h.Ref {
		t.Fatalf("DeleteHostRecord = %q, %v", ref, err)
	}
	var names []string
	for _, hr := range e.srv.HostRecords() {
		names = append(names, hr.Name)
	}
	if want := []string{"db1.example.com", "web2.example.com"}; !slices.Equal(names, want) {
		t.Errorf("hosts %v, want %v", names, want)
	}
}

func TestAllocateNextAvailableIpObjectFunction(t *testing.T) {
	e := newEnv(t)
	two := 2
	res, err := e.om.AllocateNextAvailableIp("multi.example.com", "record:host",
		map[string]string{"network": "192.0.2.0/24", "network_view": "default"},
		map[string][]string{"exclude": {"192.0.2.1", "192.0.2.2"}},
		false, ibclient.EA{"Owner": "x"}, "two addresses", false, &two, "IPV4",
		false, false, "", "", "default", "", false, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := res.(*ibclient.HostRecord)
	var got []string
	for _, a := range h.Ipv4Addrs {
		got = append(got, *a.Ipv4Addr)
	}
	if want := []string{"192.0.2.3", "192.0.2.4"}; !slices.Equal(got, want) {
		t.Errorf("host addresses %v, want %v", got, want)
	}

	// The network can be chosen by extensible attribute; addresses in its
	// DHCP range are not offered.
	res, err = e.om.AllocateNextAvailableIp("bysite", "record:host",
		map[string]string{"*Site": "dc1"}, nil, false, nil, "", false, nil, "IPV4",
		false, false, "", "", "default", "", false, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ip := *res.(*ibclient.HostRecord).Ipv4Addrs[0].Ipv4Addr; ip != "198.51.100.101" {
		t.Errorf("allocated %s from the dc1 network, want 198.51.100.101", ip)
	}

	_, err = e.om.AllocateNextAvailableIp("none", "record:host",
		map[string]string{"*Site": "nowhere"}, nil, false, nil, "", false, nil, "IPV4",
		false, false, "", "", "default", "", false, 0, nil)
	wantErr(t, err, "Cannot find a network matching")
}

func TestNetworksAndViews(t *testing.T) {
	e := newEnv(t)
	nv, err := e.om.GetNetworkView("default")
	if err != nil || *nv.Name != "default" {
		t.Fatalf("GetNetworkView(default) = %+v, %v", nv, err)
	}
	if b := ibclient.BuildNetworkViewFromRef(nv.Ref); b == nil || *b.Name != "default" {
		t.Errorf("client cannot parse network view reference %s", nv.Ref)
	}
	if _, err := e.om.GetNetworkView("nope"); err == nil {
		t.Error("GetNetworkView(nope) found a view")
	}

	created, err := e.om.CreateNetworkView("tenant-a", "a tenant", ibclient.EA{"Tenant": "a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.om.CreateNetworkView("tenant-a", "", nil); err == nil {
		t.Error("a second view with the same name was created")
	}
	upd, err := e.om.UpdateNetworkView(created.Ref, "tenant-b", "renamed", ibclient.EA{"Tenant": "b"})
	if err != nil {
		t.Fatal(err)
	}
	byRef, err := e.om.GetNetworkViewByRef(upd.Ref)
	if err != nil || *byRef.Name != "tenant-b" || byRef.Ea["Tenant"] != "b" {
		t.Fatalf("GetNetworkViewByRef = %+v, %v", byRef, err)
	}

	nw, err := e.om.CreateNetwork("tenant-b", "10.0.0.0/24", false, "tenant net", ibclient.EA{"Site": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.om.CreateNetwork("default", "10.0.0.0/24", false, "", nil); err != nil {
		t.Errorf("the same CIDR in another view: %v", err)
	}
	got, err := e.om.GetNetwork("tenant-b", "10.0.0.0/24", false, nil)
	if err != nil || got.Ref != nw.Ref || got.Comment != "tenant net" {
		t.Fatalf("GetNetwork = %+v, %v", got, err)
	}
	if b, err := ibclient.BuildNetworkFromRef(nw.Ref); err != nil || b.Cidr != "10.0.0.0/24" || b.NetviewName != "tenant-b" {
		t.Errorf("BuildNetworkFromRef(%s) = %+v, %v", nw.Ref, b, err)
	}
	if _, err := e.om.UpdateNetwork(nw.Ref, ibclient.EA{"Site": "y"}, "changed"); err != nil {
		t.Fatal(err)
	}
	byNetRef, err := e.om.GetNetworkByRef(nw.Ref)
	if err != nil || byNetRef.Ea["Site"] != "y" || byNetRef.Comment != "changed" {
		t.Fatalf("GetNetworkByRef = %+v, %v", byNetRef, err)
	}
	var nf *ibclient.NotFoundError
	if _, err := e.om.GetNetwork("default", "10.99.0.0/24", false, nil); !errors.As(err, &nf) {
		t.Errorf("missing network: got %v, want NotFoundError", err)
	}

	fa, err := e.om.AllocateIP("tenant-b", "10.0.0.0/24", "", false, "", "", "", nil, "", "", "", nil, "", false, nil, false)
	if err != nil || fa.NetviewName != "tenant-b" || !strings.HasSuffix(fa.Ref, "/tenant-b") {
		t.Fatalf("allocation in tenant view: %+v, %v", fa, err)
	}
	// Deleting a view deletes everything in it.
	if _, err := e.om.DeleteNetworkView(upd.Ref); err != nil {
		t.Fatal(err)
	}
	for _, n := range e.srv.Networks() {
		if n.NetworkView == "tenant-b" {
			t.Errorf("network %s survived its view", n.CIDR)
		}
	}
	if n := e.srv.ObjectCount("fixedaddress"); n != 0 {
		t.Errorf("%d fixed addresses survived their view", n)
	}
	if _, err := e.om.DeleteNetworkView(nv.Ref); err == nil {
		t.Error("the default network view was deleted")
	}
}

func TestNetworkGateway(t *testing.T) {
	e := newEnv(t)
	nw := &ibclient.Ipv4Network{}
	nw.SetReturnFields([]string{"network", "network_view", "options"})
	var res []ibclient.Ipv4Network
	qp := ibclient.NewQueryParams(false, map[string]string{"network": "192.0.2.0/24", "network_view": "default"})
	if err := e.conn.GetObject(nw, "", qp, &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || len(res[0].Options) != 1 {
		t.Fatalf("got %+v", res)
	}
	o := res[0].Options[0]
	if o.Name != "routers" || o.Num != 3 || o.Value != "192.0.2.1" || o.VendorClass != "DHCP" || !o.UseOption {
		t.Errorf("router option %+v", o)
	}
}

func TestIPv4AddressSearch(t *testing.T) {
	e := newEnv(t)
	fa, err := e.om.AllocateIP("default", "", "192.0.2.10", false, "aa:bb:cc:dd:ee:10", "db", "", ibclient.EA{"Owner": "x"}, "", "", "", nil, "", false, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	search := func(sf map[string]string) []ibclient.IPv4Address {
		t.Helper()
		obj := &ibclient.IPv4Address{}
		obj.SetReturnFields(append(obj.ReturnFields(), "extattrs"))
		var res []ibclient.IPv4Address
		err := e.conn.GetObject(obj, "", ibclient.NewQueryParams(false, sf), &res)
		var nf *ibclient.NotFoundError
		if err != nil && !errors.As(err, &nf) {
			t.Fatal(err)
		}
		return res
	}
	used := search(map[string]string{"ip_address": "192.0.2.10", "network_view": "default"})
	if len(used) != 1 {
		t.Fatalf("got %+v", used)
	}
	a := used[0]
	if a.Status != "USED" || !slices.Equal(a.Types, []string{"FA"}) || !slices.Equal(a.Names, []string{"db"}) ||
		!slices.Equal(a.Objects, []string{fa.Ref}) || a.MacAddress != "aa:bb:cc:dd:ee:10" ||
		a.Network != "192.0.2.0/24" || a.NetworkView != "default" || a.Ea["Owner"] != "x" || !slices.Equal(a.Usage, []string{"DHCP"}) {
		t.Errorf("ipv4address %+v", a)
	}
	if u := search(map[string]string{"ip_address": "192.0.2.11"}); len(u) != 1 || u[0].Status != "UNUSED" || len(u[0].Objects) != 0 {
		t.Errorf("unused address: %+v", u)
	}
	var usedAddrs []string
	for _, u := range search(map[string]string{"network": "192.0.2.0/24", "status": "USED"}) {
		usedAddrs = append(usedAddrs, u.IpAddress+":"+strings.Join(u.Types, ","))
	}
	if want := []string{"192.0.2.0:NETWORK", "192.0.2.10:FA", "192.0.2.255:BROADCAST"}; !slices.Equal(usedAddrs, want) {
		t.Errorf("used addresses %v, want %v", usedAddrs, want)
	}
	if n := len(search(map[string]string{"network": "192.0.2.0/24", "status": "UNUSED"})); n != 253 {
		t.Errorf("%d unused addresses, want 253", n)
	}
	inRange := search(map[string]string{"ip_address": "198.51.100.5"})
	if len(inRange) != 1 || inRange[0].Status != "UNUSED" || !slices.Equal(inRange[0].Types, []string{"DHCP_RANGE"}) {
		t.Errorf("address in a DHCP range: %+v", inRange)
	}
}

func TestIPv6(t *testing.T) {
	e := newEnv(t)
	const duid = "00:01:00:01:2a:3b:4c:5d"
	fa, err := e.om.AllocateIP("default", "2001:db8::/64", "", true, duid, "v6", "", nil, "", "", "", nil, "", false, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if fa.IPv6Address != "2001:db8::1" || fa.Duid != duid || !strings.HasPrefix(fa.Ref, "ipv6fixedaddress/") ||
		!strings.HasSuffix(fa.Ref, ":2001%3Adb8%3A%3A1/default") {
		t.Fatalf("created %+v", fa)
	}
	got, err := e.om.GetFixedAddress("default", "2001:db8::/64", "2001:DB8::1", true, "")
	if err != nil || got.Ref != fa.Ref {
		t.Fatalf("GetFixedAddress = %+v, %v", got, err)
	}
	next, err := e.om.AllocateIP("default", "2001:db8::/64", "", true, duid+":01", "", "", nil, "", "", "", nil, "", false, nil, false)
	if err != nil || next.IPv6Address != "2001:db8::2" {
		t.Fatalf("second allocation %+v, %v", next, err)
	}
	if _, err := e.om.AllocateIP("default", "2001:db8::/64", "", true, "", "", "", nil, "", "", "", nil, "", false, nil, false); err == nil {
		t.Error("the client should refuse an IPv6 fixed address without DUID")
	}

	nw, err := e.om.GetNetwork("default", "2001:db8::/64", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := ibclient.BuildIPv6NetworkFromRef(nw.Ref); err != nil || b.Cidr != "2001:db8::/64" {
		t.Errorf("BuildIPv6NetworkFromRef(%s) = %+v, %v", nw.Ref, b, err)
	}

	var res []ibclient.IPv6Address
	qp := ibclient.NewQueryParams(false, map[string]string{"network": "2001:db8::/64"})
	if err := e.conn.GetObject(&ibclient.IPv6Address{}, "", qp, &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].IpAddress != "2001:db8::1" || res[0].Status != "USED" || res[0].Duid != duid {
		t.Errorf("ipv6address search %+v", res)
	}

	if _, err := e.om.DeleteFixedAddress(fa.Ref); err != nil {
		t.Fatal(err)
	}
	again, err := e.om.AllocateIP("default", "2001:db8::/64", "", true, duid, "", "", nil, "", "", "", nil, "", false, nil, false)
	if err != nil || again.IPv6Address != "2001:db8::1" || again.Ref != fa.Ref {
		t.Errorf("re-allocation %+v, %v: want the freed address and its reference back", again, err)
	}
}

func TestConcurrentAllocations(t *testing.T) {
	e := newEnv(t)
	const n = 100
	got := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			fa, err := e.om.AllocateIP("default", "192.0.2.0/24", "", false, "", fmt.Sprintf("vm-%d", i), "", nil, "", "", "", nil, "", false, nil, false)
			if err != nil {
				errs[i] = err
				return
			}
			got[i] = fa.IPv4Address
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ip := range got {
		a := netip.MustParseAddr(ip)
		if seen[ip] || !netip.MustParsePrefix("192.0.2.0/24").Contains(a) || ip == "192.0.2.0" || ip == "192.0.2.255" {
			t.Errorf("bad or duplicate allocation %s", ip)
		}
		seen[ip] = true
	}
	server := addrs(e.srv.FixedAddresses())
	if len(server) != n || server[0] != "192.0.2.1" || server[n-1] != "192.0.2.100" {
		t.Errorf("server holds %d addresses %v..., want 192.0.2.1-100", len(server), server[:min(3, len(server))])
	}
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	cfg := e.srv.ClientConfig()
	cfg.Auth.Password = "wrong"
	conn, err := ibclient.NewConnector(cfg.Host, cfg.Auth, cfg.Transport, &ibclient.WapiRequestBuilder{}, &ibclient.WapiHttpRequestor{})
	if err != nil {
		t.Fatal(err)
	}
	om := ibclient.NewObjectManager(conn, "test", "")
	_, err = om.GetNetworkView("default")
	wantErr(t, err, "401", "Authorization Required")
	_, err = om.AllocateIP("default", "192.0.2.0/24", "", false, "", "", "", nil, "", "", "", nil, "", false, nil, false)
	wantErr(t, err, "401")
	if n := e.srv.ObjectCount("fixedaddress"); n != 0 {
		t.Errorf("an unauthenticated request created %d fixed addresses", n)
	}

	status, body := rawRequest(t, e.srv, "GET", "networkview", nil, user, "wrong")
	if status != 401 || !strings.Contains(string(body), "<title>401 Authorization Required</title>") {
		t.Errorf("got %d %s", status, body)
	}
	if err := e.conn.Logout(); err != nil {
		t.Errorf("Logout: %v", err)
	}
}

func TestRequireEADefinitions(t *testing.T) {
	srv := wapisim.NewTestServer(t, wapisim.Config{Username: user, Password: password, RequireEADefinitions: true})
	if _, err := srv.AddNetwork("", "192.0.2.0/24", wapisim.NetworkOptions{ExtAttrs: map[string]any{"Site": "lab"}}); err == nil {
		t.Fatal("a network with an undefined attribute was created")
	}
	must(t)(srv.AddEADefinition("Site", "STRING"))
	must(t)(srv.AddNetwork("", "192.0.2.0/24", wapisim.NetworkOptions{ExtAttrs: map[string]any{"Site": "lab"}}))
	conn, err := srv.NewConnector()
	if err != nil {
		t.Fatal(err)
	}
	om := ibclient.NewObjectManager(conn, "test", "")
	alloc := func(ea ibclient.EA) error {
		_, err := om.AllocateIP("default", "192.0.2.0/24", "", false, "", "", "", ea, "", "", "", nil, "", false, nil, false)
		return err
	}
	wantErr(t, alloc(ibclient.EA{"Owner": "x"}), "AdmConProtoError: Unknown extensible attribute: Owner")
	name, typ := "Rack", "INTEGER"
	if _, err := om.CreateEADefinition(ibclient.EADefinition{Name: &name, Type: typ}); err != nil {
		t.Fatal(err)
	}
	if def, err := om.GetEADefinition("Rack"); err != nil || def.Type != "INTEGER" {
		t.Fatalf("GetEADefinition = %+v, %v", def, err)
	}
	wantErr(t, alloc(ibclient.EA{"Rack": "top"}), "Invalid value for extensible attribute Rack")
	if err := alloc(ibclient.EA{"Rack": 12, "Site": "lab"}); err != nil {
		t.Fatal(err)
	}
}
