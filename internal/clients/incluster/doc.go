// Package incluster is the in-cluster ledger: which address is held by which
// Reservation, kept in the management cluster's API server as one
// cluster-scoped Allocation per held address.
//
// The API server is the only arbiter: an Allocation's name is derived from
// its address, so two holders of one address would need two objects of one
// name, which the API server refuses. That holds across goroutines,
// replicas and restarts with no lock and no leader. Each Allocation carries
// its holder's UID, so a holder that crashed between creating an Allocation
// and recording it finds it again instead of leaking it.
//
// The process keeps an index of held addresses, fed by a watch, to pick
// candidates without listing anything: picking costs O(log n) however full
// the space is. The index may lag the API server; a stale pick costs one
// refused create and is then known to be held.
package incluster
