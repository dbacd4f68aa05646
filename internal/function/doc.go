// Package function is the composition function of k0rdent's IPAM kinds: it
// composes a ClusterIPAMClaim's ClusterIPAM (claim.go), a ClusterIPAM's
// Reservations and CAPI pool in the backend its Composition names
// (clusteripam.go), and a ClusterDeployment's claim and, once its addresses
// are held, the cluster objects of the infrastructure its Composition names
// (clusterdeployment.go, rendering through package infrastructure). It reads
// what the provider publishes only through typed fields (a Reservation's
// status.atProvider, a pool's status, an XR's phase and condition reasons),
// never through messages, and it depends on API types and the pure address
// logic only.
package function
