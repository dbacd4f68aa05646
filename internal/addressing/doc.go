// Package addressing is the pure address logic of provider-ipam: parsing and
// validating address spaces, and finding free addresses in them. It knows
// nothing of Kubernetes; the ledgers in internal/clients keep its state.
//
// Addresses follow net/netip: an address never carries a zone, and an
// IPv4-mapped IPv6 address is rejected rather than silently unmapped, so
// that one address has exactly one spelling in every ledger.
package addressing
