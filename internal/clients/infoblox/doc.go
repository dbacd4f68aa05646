// Package infoblox reserves IP addresses in Infoblox NIOS through WAPI, with
// github.com/infobloxopen/infoblox-go-client/v2 building every request.
//
// Every object it creates carries extensible attributes (see EAs); the
// attribute provider-ipam/reservation-uid holds the UID of the Kubernetes
// Reservation and is the idempotency key: whatever happens between "created
// in Infoblox" and "recorded in Kubernetes", Find recovers the object.
//
// Round trips. A fixed address is created with one POST: WAPI answers with
// the new object's reference, whose name part is the address, so no GET
// follows (the client's AllocateIP would add one). Reads by reference are
// sent without query parameters, so the client neither retries a 404 nor
// re-asks the Grid Master. Searches are sent to the Grid Master directly
// (_proxy_search=GM); the client re-sends a search that found nothing with
// that same flag, and this package answers that identical repeat locally
// (see requestor) instead of asking the grid the same question twice.
package infoblox
