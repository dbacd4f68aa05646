package wapisim_test

import (
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	ibclient "github.com/infobloxopen/infoblox-go-client/v2"
)

// These tests speak WAPI directly, for what the client does not expose.

func TestNextAvailableIPFunction(t *testing.T) {
	tests := []struct {
		name       string
		ref        func(*env) string
		query      string
		body       any
		wantStatus int
		wantIPs    []string
		wantErr    string
	}{
		{name: "network", ref: func(e *env) string { return e.net192 }, body: map[string]any{"num": 3},
			wantIPs: []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}},
		{name: "exclude", ref: func(e *env) string { return e.net192 },
			body:    map[string]any{"num": 2, "exclude": []string{"192.0.2.1", "192.0.2.3"}},
			wantIPs: []string{"192.0.2.2", "192.0.2.4"}},
		{name: "arguments in the query", ref: func(e *env) string { return e.net192 }, query: "&num=2&exclude=192.0.2.1",
			wantIPs: []string{"192.0.2.2", "192.0.2.3"}},
		{name: "default is one address", ref: func(e *env) string { return e.net192 }, wantIPs: []string{"192.0.2.1"}},
		{name: "network skips its DHCP range", ref: func(e *env) string { return e.net198 }, body: map[string]any{"num": 2},
			wantIPs: []string{"198.51.100.101", "198.51.100.102"}},
		{name: "range", ref: func(e *env) string { return e.range198 }, body: map[string]any{"num": 2},
			wantIPs: []string{"198.51.100.1", "198.51.100.2"}},
		{name: "IPv6 network", ref: func(e *env) string { return e.net6 }, body: map[string]any{"num": 2},
			wantIPs: []string{"2001:db8::1", "2001:db8::2"}},
		{name: "not enough addresses", ref: func(e *env) string { return e.net203 }, body: map[string]any{"num": 3},
			wantStatus: 400, wantErr: "Cannot find 3 available IP address(es) in this network."},
		{name: "bad num", ref: func(e *env) string { return e.net192 }, body: map[string]any{"num": 0},
			wantStatus: 400, wantErr: "Invalid value for num"},
		{name: "unknown argument", ref: func(e *env) string { return e.net192 }, query: "&x=1",
			wantStatus: 400, wantErr: "Unknown argument/field: 'x'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			status, body := e.wapi(t, "POST", tt.ref(e)+"?_function=next_available_ip"+tt.query, tt.body)
			if tt.wantErr != "" {
				if status != tt.wantStatus || !strings.Contains(string(body), tt.wantErr) {
					t.Fatalf("got %d %s, want %d with %q", status, body, tt.wantStatus, tt.wantErr)
				}
				return
			}
			if status != 200 {
				t.Fatalf("got %d %s", status, body)
			}
			if got := decode[map[string][]string](t, body)["ips"]; !slices.Equal(got, tt.wantIPs) {
				t.Errorf("ips %v, want %v", got, tt.wantIPs)
			}
			// The function only reports addresses; it reserves none.
			if n := e.srv.ObjectCount("fixedaddress"); n != 0 {
				t.Errorf("the function created %d fixed addresses", n)
			}
		})
	}
}

func TestNextAvailableIPFunctionSkipsUsedAddresses(t *testing.T) {
	e := newEnv(t)
	if _, err := e.reserve("192.0.2.1", "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.om.CreateHostRecord(false, false, "h.example.com", "default", "", "", "", "192.0.2.2", "", "", "", false, 0, "", nil, nil, false); err != nil {
		t.Fatal(err)
	}
	status, body := e.wapi(t, "POST", e.net192+"?_function=next_available_ip", map[string]any{"num": 1})
	if got := decode[map[string][]string](t, body)["ips"]; status != 200 || !slices.Equal(got, []string{"192.0.2.3"}) {
		t.Errorf("got %d %s, want 192.0.2.3", status, body)
	}
	status, body = e.wapi(t, "GET", e.net192+"?_function=next_available_ip", nil)
	if status != 400 || !strings.Contains(string(body), "Function next_available_ip illegal with this method") {
		t.Errorf("GET with _function: %d %s", status, body)
	}
}

func TestObjectFunctionInFixedAddress(t *testing.T) {
	e := newEnv(t)
	status, body := e.wapi(t, "POST", "fixedaddress?_return_fields=ipv4addr,name", map[string]any{
		"name": "fn",
		"mac":  "aa:bb:cc:00:00:01",
		"ipv4addr": map[string]any{
			"_object_function":   "next_available_ip",
			"_result_field":      "ips",
			"_object":            "network",
			"_object_parameters": map[string]any{"network": "192.0.2.0/24", "network_view": "default"},
			"_parameters":        map[string]any{"exclude": []string{"192.0.2.1"}},
		},
	})
	if status != 201 {
		t.Fatalf("got %d %s", status, body)
	}
	got := decode[map[string]any](t, body)
	if got["ipv4addr"] != "192.0.2.2" || got["name"] != "fn" || !strings.HasPrefix(got["_ref"].(string), "fixedaddress/") {
		t.Errorf("created %v", got)
	}
}

func TestErrorResponses(t *testing.T) {
	tests := []struct {
		name, method, path string
		body               any
		status             int
		wantError, code    string
	}{
		{name: "unknown reference", method: "GET", path: "fixedaddress/ZG5zLmZpeGVkX2FkZHJlc3MkMTAuMC4wLjEuMC4u:10.0.0.1/default",
			status: 404, code: "Client.Ibap.Data.NotFound",
			wantError: "AdmConDataNotFoundError: Reference fixedaddress/ZG5zLmZpeGVkX2FkZHJlc3MkMTAuMC4wLjEuMC4u:10.0.0.1/default not found"},
		{name: "delete unknown reference", method: "DELETE", path: "network/ZG5zLm5ldHdvcmskMTAuMC4wLjAvMjQvMA:10.0.0.0/24/default",
			status: 404, code: "Client.Ibap.Data.NotFound", wantError: "AdmConDataNotFoundError: Reference network/"},
		{name: "unknown object type", method: "GET", path: "record:a", status: 400, code: "Client.Ibap.Proto",
			wantError: "AdmConProtoError: Unknown object type (record:a)"},
		{name: "unknown search field", method: "GET", path: "fixedaddress?color=red", status: 400, code: "Client.Ibap.Proto",
			wantError: "AdmConProtoError: Unknown argument/field: 'color'"},
		{name: "unsupported modifier", method: "GET", path: "fixedaddress?network_view~=def", status: 400, code: "Client.Ibap.Proto",
			wantError: "Field is not searchable"},
		{name: "unknown return field", method: "GET", path: "network?_return_fields=color", status: 400, code: "Client.Ibap.Proto",
			wantError: "Unknown argument/field: 'color'"},
		{name: "unknown control argument", method: "GET", path: "network?_paging=1", status: 400, code: "Client.Ibap.Proto",
			wantError: "Unknown argument/field: '_paging'"},
		{name: "missing field", method: "POST", path: "fixedaddress", body: map[string]any{"ipv4addr": "192.0.2.5"},
			status: 400, code: "Client.Ibap.Proto", wantError: "AdmConProtoError: field for create missing: mac"},
		{name: "unknown field", method: "POST", path: "fixedaddress", body: map[string]any{"ipv4addr": "192.0.2.5", "mac": "aa:bb:cc:dd:ee:ff", "color": "red"},
			status: 400, code: "Client.Ibap.Proto", wantError: "Unknown argument/field: 'color'"},
		{name: "wrong type", method: "POST", path: "networkview", body: map[string]any{"name": 5},
			status: 400, code: "Client.Ibap.Proto", wantError: "Invalid value for name: 5"},
		{name: "bad address", method: "POST", path: "fixedaddress", body: map[string]any{"ipv4addr": "192.0.2.500", "mac": "aa:bb:cc:dd:ee:ff"},
			status: 400, code: "Client.Ibap.Proto", wantError: "Invalid value for ipv4addr"},
		{name: "bad JSON", method: "POST", path: "networkview", body: "not an object",
			status: 400, code: "Client.Ibap.Proto.JSONDecoding", wantError: "AdmConProtoError: JSON Decoding:"},
		{name: "read-only field", method: "POST", path: "networkview", body: map[string]any{"name": "x", "is_default": true},
			status: 400, code: "Client.Ibap.Proto", wantError: "Field is not writable: is_default"},
		{name: "too many results", method: "GET", path: "ipv4address?network=192.0.2.0/24&_max_results=-10",
			status: 400, code: "Client.Ibap.Proto", wantError: "AdmConProtoError: Result set too large (> 10)"},
		{name: "address search needs a network", method: "GET", path: "ipv4address?status=USED",
			status: 400, code: "Client.Ibap.Proto", wantError: "A network or an ip_address is required"},
		{name: "host bits set", method: "POST", path: "network", body: map[string]any{"network": "192.0.2.5/24"},
			status: 400, code: "Client.Ibap.Proto", wantError: "host bits set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			status, body := e.wapi(t, tt.method, tt.path, tt.body)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, body)
			}
			// Check the raw text too: NIOS does not escape <, > and & in JSON.
			if !strings.HasPrefix(string(body), `{ "Error": `) || !strings.Contains(string(body), tt.wantError) {
				t.Errorf("body is not laid out like NIOS's: %s", body)
			}
			got := decode[map[string]string](t, body)
			if !strings.Contains(got["Error"], tt.wantError) || got["code"] != tt.code || !strings.Contains(got["Error"], got["text"]) {
				t.Errorf("error %v, want Error containing %q and code %q", got, tt.wantError, tt.code)
			}
		})
	}
}

func TestSearchArguments(t *testing.T) {
	e := newEnv(t)
	for _, fa := range []struct {
		ip, mac, name string
		ea            ibclient.EA
	}{
		{"192.0.2.11", "aa:bb:cc:00:00:11", "web1", ibclient.EA{"Site": "lab", "Rack": 1}},
		{"192.0.2.12", "aa:bb:cc:00:00:12", "web2", ibclient.EA{"Site": "dc1", "Rack": 2}},
		{"192.0.2.13", "aa:bb:cc:00:00:13", "DB1", ibclient.EA{"Site": "dc2", "Rack": 3}},
		{"198.51.100.200", "aa:bb:cc:00:00:14", "edge", ibclient.EA{"Site": []string{"dc1", "dc2"}}},
	} {
		if _, err := e.om.AllocateIP("default", "", fa.ip, false, fa.mac, fa.name, "", fa.ea, "", "", "", nil, "", false, nil, false); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		query string
		want  []string // names, in order
	}{
		{"name~=^web", []string{"web1", "web2"}},
		{"name:=db1", []string{"DB1"}},
		{"name=db1", nil},
		{"name!=web1&network=192.0.2.0/24", []string{"web2", "DB1"}},
		{"%2ASite=dc1", []string{"web2", "edge"}},
		{"%2ASite~=^dc", []string{"web2", "DB1", "edge"}},
		{"%2ASite!=lab&network=192.0.2.0/24", []string{"web2", "DB1"}},
		{"%2ARack%3E=2", []string{"web2", "DB1"}},
		{"ipv4addr%3E=192.0.2.12&ipv4addr%3C=192.0.2.13", []string{"web2", "DB1"}},
		{"mac=AA-BB-CC-00-00-12", []string{"web2"}},
		{"network=198.51.100.0/24", []string{"edge"}},
		{"name~=^web&%2ASite=lab", []string{"web1"}},
		{"_max_results=2", []string{"web1", "web2"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			status, body := e.wapi(t, "GET", "fixedaddress?_return_fields=name&"+tt.query, nil)
			if status != 200 {
				t.Fatalf("got %d %s", status, body)
			}
			var got []string
			for _, o := range decode[[]map[string]any](t, body) {
				got = append(got, o["name"].(string))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("found %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReturnFields(t *testing.T) {
	e := newEnv(t)
	keys := func(path string) []string {
		t.Helper()
		status, body := e.wapi(t, "GET", path, nil)
		if status != 200 {
			t.Fatalf("GET %s: %d %s", path, status, body)
		}
		objs := decode[[]map[string]any](t, body)
		if len(objs) != 1 {
			t.Fatalf("GET %s: %d objects", path, len(objs))
		}
		var ks []string
		for k := range objs[0] {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return ks
	}
	tests := []struct{ path, want string }{
		{"network?network=192.0.2.0/24", "_ref,comment,network,network_view"},
		{"network?network=192.0.2.0/24&_return_fields=network", "_ref,network"},
		{"network?network=192.0.2.0/24&_return_fields%2B=extattrs,options", "_ref,comment,extattrs,network,network_view,options"},
		{"network?network=198.51.100.0/24", "_ref,network,network_view"}, // no comment: unset fields are left out
		{"networkview?name=default", "_ref,is_default,name"},
		{"range?start_addr=198.51.100.1", "_ref,end_addr,network,network_view,start_addr"},
	}
	for _, tt := range tests {
		if got := strings.Join(keys(tt.path), ","); got != tt.want {
			t.Errorf("GET %s returned %s, want %s", tt.path, got, tt.want)
		}
	}
	status, body := e.wapi(t, "GET", "networkview?_return_as_object=1", nil)
	if res := decode[map[string][]map[string]any](t, body)["result"]; status != 200 || len(res) != 1 || res[0]["name"] != "default" {
		t.Errorf("_return_as_object: %d %s", status, body)
	}
	status, body = e.wapi(t, "GET", "network?contains_address=192.0.2.77", nil)
	if res := decode[[]map[string]any](t, body); status != 200 || len(res) != 1 || res[0]["_ref"] != e.net192 {
		t.Errorf("contains_address: %d %s", status, body)
	}
}

func TestReferences(t *testing.T) {
	e := newEnv(t)
	fa, err := e.reserve("192.0.2.10", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := e.om.CreateHostRecord(true, false, "web.example.com", "default", "default", "", "", "192.0.2.20", "", "", "", false, 0, "", nil, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ ref, pattern string }{
		{fa.Ref, `^fixedaddress/[A-Za-z0-9]+:192\.0\.2\.10/default$`},
		{e.net192, `^network/[A-Za-z0-9]+:192\.0\.2\.0/24/default$`},
		{e.net6, `^ipv6network/[A-Za-z0-9]+:2001%3Adb8%3A%3A/64/default$`},
		{e.range198, `^range/[A-Za-z0-9]+:198\.51\.100\.1/198\.51\.100\.100/default$`},
		{h.Ref, `^record:host/[A-Za-z0-9]+:web\.example\.com/default$`},
		{*ptrRef(h), `^record:host_ipv4addr/[A-Za-z0-9]+:192\.0\.2\.20/web\.example\.com/default$`},
	} {
		if !regexp.MustCompile(tt.pattern).MatchString(tt.ref) {
			t.Errorf("reference %s does not match %s", tt.ref, tt.pattern)
		}
	}
	if fa.Ref != "fixedaddress/ZG5zLmZpeGVkX2FkZHJlc3MkMTkyLjAuMi4xMC4wLi4:192.0.2.10/default" {
		t.Errorf("fixed address reference %s differs from what NIOS would return", fa.Ref)
	}

	// Changing a field outside the key keeps the reference; NIOS also
	// ignores the name part, so a stale name part still resolves.
	status, body := e.wapi(t, "PUT", fa.Ref, map[string]any{"comment": "c"})
	if status != 200 || decode[string](t, body) != fa.Ref {
		t.Errorf("PUT comment: %d %s", status, body)
	}
	stale := strings.Replace(fa.Ref, ":192.0.2.10/default", ":old-name/elsewhere", 1)
	if status, body := e.wapi(t, "GET", stale, nil); status != 200 {
		t.Errorf("GET with a stale name part: %d %s", status, body)
	}
	// Changing the address changes the reference.
	status, body = e.wapi(t, "PUT", fa.Ref+"?_return_fields=ipv4addr", map[string]any{"ipv4addr": "192.0.2.11"})
	moved := decode[map[string]any](t, body)
	if status != 200 || moved["ipv4addr"] != "192.0.2.11" || moved["_ref"] == fa.Ref {
		t.Errorf("PUT ipv4addr: %d %s", status, body)
	}
	if status, _ := e.wapi(t, "GET", fa.Ref, nil); status != 404 {
		t.Errorf("old reference: %d, want 404", status)
	}
}

func ptrRef(h *ibclient.HostRecord) *string { return &h.Ipv4Addrs[0].Ref }

func TestExtAttrsPlusMinus(t *testing.T) {
	e := newEnv(t)
	fa := e.allocate(t, "192.0.2.0/24", ibclient.EA{"A": "1", "B": "2"})
	status, body := e.wapi(t, "PUT", fa.Ref+"?_return_fields=extattrs", map[string]any{
		"extattrs+": map[string]any{"C": map[string]any{"value": "3"}, "A": map[string]any{"value": "one"}},
		"extattrs-": map[string]any{"B": map[string]any{}},
	})
	if status != 200 {
		t.Fatalf("got %d %s", status, body)
	}
	got := decode[struct {
		ExtAttrs map[string]map[string]string `json:"extattrs"`
	}](t, body).ExtAttrs
	if len(got) != 2 || got["A"]["value"] != "one" || got["C"]["value"] != "3" {
		t.Errorf("extattrs %v", got)
	}
}
