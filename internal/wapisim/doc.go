// Package wapisim is an in-memory emulator of the Infoblox NIOS WAPI, for
// testing IP address management code against the real
// github.com/infobloxopen/infoblox-go-client/v2 (v2.12.0) over HTTP(S) on
// loopback.
//
// # Starting it
//
//	srv := wapisim.NewTestServer(t, wapisim.Config{Username: "admin", Password: "infoblox"})
//	srv.AddNetwork("default", "192.0.2.0/24", wapisim.NetworkOptions{Gateway: "192.0.2.1"})
//	conn, err := srv.NewConnector() // or srv.ClientConfig() for the pieces
//	om := ibclient.NewObjectManager(conn, "cmp", "")
//
// The server listens on 127.0.0.1 only, with a certificate from a CA
// generated in memory (CACertPEM, CAFile), or plain HTTP. Every path
// /wapi/v<any version>/ is served with HTTP basic authentication; wrong
// credentials get NIOS's Apache "401 Authorization Required" page.
// POST /wapi/v<version>/logout is accepted.
//
// # Objects and methods
//
// networkview, network, ipv6network, range, ipv6range, fixedaddress,
// ipv6fixedaddress, record:host (with ipv4addrs and ipv6addrs) and
// extensibleattributedef support GET (search, or by reference), POST
// (answers 201 and the reference, or the object when _return_fields is
// given), PUT and DELETE (both answer the reference). ipv4address and
// ipv6address are read-only search objects computed from the others:
// status USED/UNUSED, types (FA, HOST, NETWORK, BROADCAST, DHCP_RANGE),
// names, objects, usage, mac_address/duid, network, network_view and the
// extensible attributes of the first object holding the address.
//
// GET takes _return_fields, _return_fields+, _max_results (default -1000:
// more than 1000 results is an error, a positive value truncates),
// _return_as_object and _proxy_search (ignored), and searches with the
// modifiers =, :=, ~=, !=, <= and >=, including extensible attribute
// searches such as *Site=lab or *Site~=^dc. Repeated arguments must all
// match. Objects carry extensible attributes ("extattrs", and "extattrs+"
// and "extattrs-" on PUT) with string, integer or list values.
//
// References have NIOS's format, e.g.
// fixedaddress/ZG5zLmZpeGVkX2FkZHJlc3MkMTkyLjAuMi4xMC4wLi4:192.0.2.10/default,
// whose refdata is unpadded base64 of a NIOS-style internal key (here
// "dns.fixed_address$192.0.2.10.0.."). As on NIOS they are resolved by
// refdata only, are stable while the object's key (its address, name or
// network) is unchanged, and the colons of IPv6 addresses in the name part
// are escaped as %3A.
//
// # Next available IP
//
// An address field (ipv4addr, ipv6addr, and those inside ipv4addrs and
// ipv6addrs) may hold
//
//   - "func:nextavailableip:<cidr>[,<view>]", "...:<start>-<end>[,<view>]"
//     or "...:<network or range reference>";
//   - an object function call {"_object_function": "next_available_ip",
//     "_result_field": "ips", "_object": "network", "_object_parameters":
//     {...search...}, "_parameters": {"exclude": [...]}}, or with
//     "_object_ref", as the client's AllocateNextAvailableIp sends.
//
// POST <network or range reference>?_function=next_available_ip with num
// and exclude (in the body or the query) answers {"ips": [...]} and
// reserves nothing. A network never offers its network or (IPv4) broadcast
// address, addresses held by a fixed address or a host record, nor the
// addresses of its DHCP ranges; a range offers only its own addresses.
// Failing to find enough is NIOS's
// "Cannot find N available IP address(es) in this network." error.
//
// # Consistency rules
//
// A network view holds no overlapping networks. A fixed address must lie in
// a network of its view, must not be that network's network or broadcast
// address, may not share its address with another fixed address or with a
// host address configured for DHCP, and a non-zero MAC address may be used
// once per network. Host addresses not configured for DHCP may share
// addresses and need no network. Host names are unique per DNS view (or
// per network view outside DNS). Deleting a network deletes its ranges and
// fixed addresses; deleting a network view deletes everything in it; the
// default view cannot be deleted.
//
// # Errors
//
// Errors have NIOS's status codes (400, 404 for unknown references and
// views) and body, laid out as NIOS does:
//
//	{ "Error": "AdmConDataError: None (IBDataConflictError: IB.Data.Conflict:...)",
//	  "code": "Client.Ibap.Data.Conflict",
//	  "text": "..."
//	}
//
// with the codes Client.Ibap.Proto (bad request), Client.Ibap.Data.NotFound,
// Client.Ibap.Data.Conflict and Client.Ibap.Data (e.g. exhaustion).
//
// # Test support
//
// State is seeded with AddNetworkView, AddNetwork (a gateway becomes the
// "routers" DHCP option, which clients read from a network's options),
// AddRange and AddEADefinition, and inspected with FixedAddresses,
// HostRecords, Networks and ObjectCount. RequestCount and RequestCounts
// count round trips by method and object type. AddFault injects latency,
// error statuses, dropped connections, authentication failures and lost
// responses (the request is carried out, the connection then closed
// unanswered), for some or all methods and object types, a number of
// times or a fraction of the time. WaitIdle waits for requests whose
// client gave up to finish. Note that the client retries every failed
// request once, so a fault must fire twice to reach the caller.
//
// # Deviations from NIOS
//
// Deliberate simplifications; a test that depends on one of these does not
// prove the code works against a grid.
//
//   - DNS is not modelled: hosts configured for DNS need no zone, their
//     zone is the name minus its first label and any DNS view is
//     accepted. A host outside DNS has view " ", as on NIOS.
//   - Not emulated: network containers (so func:nextavailablenetwork and
//     next_available_network), leases, DNS records, grid members, paging,
//     _schema, the multi-object "request" object, ibapauth session cookies
//     (every request needs basic authentication, which the client always
//     sends), host address objects by reference, and DELETE of
//     ipv4address.
//   - Extensible attribute definitions are only enforced with
//     Config.RequireEADefinitions; a grid always enforces them.
//   - Field values are only taken from request bodies, not from the query
//     of a POST or PUT. Unknown fields and arguments are rejected.
//   - A read-only or create-only field in a PUT body is accepted when it
//     repeats the current value, and "_ref" in a body is ignored, because
//     the client sends both in its updates.
//   - The client nests "mac", "configure_for_dhcp" and "duid" inside the
//     object function call of AllocateNextAvailableIp, where WAPI does
//     not define them; following WAPI, they are ignored there.
//   - When an object function's search matches several networks or
//     ranges, the first (in address order) with a free address is used.
//   - ipv4address and ipv6address searches need network or ip_address
//     (equality); ranges of ip_address are not supported, IPv4 networks
//     larger than /12 are refused, and an IPv6 network lists only the
//     addresses objects hold.
//   - A network whose address has host bits set is rejected.
//   - The Error/code structure and the texts quoted above, "Reference ...
//     not found", "Unknown object type (...)", "Network View ... not
//     found", "The record '...' already exists.", "MAC address ... is used
//     in two fixed addresses ..." and "Unknown extensible attribute: ..."
//     follow NIOS; other validation and conflict texts are approximations,
//     so match on the code rather than the text.
//   - Only HTTP/1.1 is served.
package wapisim
