package function

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	k0rdentv1beta1 "github.com/provider-ipam/provider-ipam/apis/k0rdent/v1beta1"
)

// The function decides from the fields the provider publishes for
// compositions (a Reservation's status.atProvider shortfall, conflict and
// releasing; a ClusterIPAM's Bound reason), never from a message: each
// case below is one thing it reads, and the whole response is compared.
func TestContract(t *testing.T) {
	const (
		node   = xrName + "-node"
		synced = `{"type":"Synced","status":"False","reason":"ReconcileError","message":%q}`
	)
	cases := map[string]struct {
		in   input
		want string
	}{
		"InClusterShortfall": {
			in: input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, cidrNode), observed: map[string]string{"node": reservation(inClusterAV, node, `{}`,
				failedStatus("create failed: not enough free addresses in 10.0.0.0/24: 253 requested, 253 usable, 3 already held, 250 free", shortfallAtProvider))}},
			want: `{
				"meta": {
					"tag": "test",
					"ttl": "600s"
				},
				"desired": {
					"composite": {
						"resource": {
							"apiVersion": "k0rdent.mirantis.com/v1beta1",
							"kind": "ClusterIPAM",
							"status": {
								"phase": "Failed",
								"providerData": [
									{
										"config": {
											"apiGroup": "ipam.provider-ipam.io",
											"kind": "IPPool",
											"name": "team-a-cluster-node"
										},
										"gateway": "10.0.0.1",
										"name": "ipPool",
										"prefix": 24,
										"ready": false
									}
								]
							}
						}
					},
					"resources": {
						"node": {
							"resource": {
								"apiVersion": "incluster.ipam.provider-ipam.io/v1alpha1",
								"kind": "Reservation",
								"metadata": {
									"name": "team-a-cluster-node",
									"namespace": "team-a"
								},
								"spec": {
									"forProvider": {
										"allAddresses": true,
										"space": {
											"cidr": "10.0.0.0/24",
											"gateway": "10.0.0.1"
										}
									}
								}
							},
							"ready": "READY_FALSE"
						}
					}
				},
				"results": [
					{
						"severity": "SEVERITY_WARNING",
						"message": "Reservation team-a/team-a-cluster-node: create failed: not enough free addresses in 10.0.0.0/24: 253 requested, 253 usable, 3 already held, 250 free",
						"target": "TARGET_COMPOSITE"
					}
				],
				"conditions": [
					{
						"type": "Bound",
						"status": "STATUS_CONDITION_FALSE",
						"reason": "AddressesExhausted",
						"message": "Reservation team-a/team-a-cluster-node: create failed: not enough free addresses in 10.0.0.0/24: 253 requested, 253 usable, 3 already held, 250 free",
						"target": "TARGET_COMPOSITE"
					}
				]
			}`,
		},
		"InClusterConflict": {
			in: input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, cidrNode), observed: map[string]string{"node": reservation(inClusterAV, node, `{}`,
				failedStatus("create failed: 10.0.0.2 is already held by Reservation team-b/other-node", conflictAtProvider))}},
			want: `{
				"meta": {
					"tag": "test",
					"ttl": "600s"
				},
				"desired": {
					"composite": {
						"resource": {
							"apiVersion": "k0rdent.mirantis.com/v1beta1",
							"kind": "ClusterIPAM",
							"status": {
								"phase": "Failed",
								"providerData": [
									{
										"config": {
											"apiGroup": "ipam.provider-ipam.io",
											"kind": "IPPool",
											"name": "team-a-cluster-node"
										},
										"gateway": "10.0.0.1",
										"name": "ipPool",
										"prefix": 24,
										"ready": false
									}
								]
							}
						}
					},
					"resources": {
						"node": {
							"resource": {
								"apiVersion": "incluster.ipam.provider-ipam.io/v1alpha1",
								"kind": "Reservation",
								"metadata": {
									"name": "team-a-cluster-node",
									"namespace": "team-a"
								},
								"spec": {
									"forProvider": {
										"allAddresses": true,
										"space": {
											"cidr": "10.0.0.0/24",
											"gateway": "10.0.0.1"
										}
									}
								}
							},
							"ready": "READY_FALSE"
						}
					}
				},
				"results": [
					{
						"severity": "SEVERITY_WARNING",
						"message": "Reservation team-a/team-a-cluster-node: create failed: 10.0.0.2 is already held by Reservation team-b/other-node",
						"target": "TARGET_COMPOSITE"
					}
				],
				"conditions": [
					{
						"type": "Bound",
						"status": "STATUS_CONDITION_FALSE",
						"reason": "AddressConflict",
						"message": "Reservation team-a/team-a-cluster-node: create failed: 10.0.0.2 is already held by Reservation team-b/other-node",
						"target": "TARGET_COMPOSITE"
					}
				]
			}`,
		},
		"InfobloxShortfall": {
			in: input{xr: ipamXR(k0rdentv1beta1.ProviderInfoblox, `,"nodeNetwork":{"ipAddresses":["10.0.0.10"],"gateway":"10.0.0.1","prefix":24}`),
				observed: map[string]string{"node-0": reservation(infobloxAV, node+"-0", `{}`,
					failedStatus("create failed: NoFreeAddress: no free address in 10.0.0.0/24 (HTTP 400)", ibShortfall))}},
			want: `{
				"meta": {
					"tag": "test",
					"ttl": "600s"
				},
				"desired": {
					"composite": {
						"resource": {
							"apiVersion": "k0rdent.mirantis.com/v1beta1",
							"kind": "ClusterIPAM",
							"status": {
								"phase": "Failed",
								"providerData": [
									{
										"config": {
											"apiGroup": "ipam.provider-ipam.io",
											"kind": "IPPool",
											"name": "team-a-cluster-node"
										},
										"gateway": "10.0.0.1",
										"name": "ipPool",
										"prefix": 24,
										"ready": false
									}
								]
							}
						}
					},
					"resources": {
						"node-0": {
							"resource": {
								"apiVersion": "infoblox.ipam.provider-ipam.io/v1alpha1",
								"kind": "Reservation",
								"metadata": {
									"name": "team-a-cluster-node-0",
									"namespace": "team-a"
								},
								"spec": {
									"forProvider": {
										"address": "10.0.0.10",
										"claim": "team-a/team-a-cluster",
										"gateway": "10.0.0.1",
										"prefix": 24
									},
									"providerConfigRef": {
										"kind": "ClusterProviderConfig",
										"name": "default"
									}
								}
							},
							"ready": "READY_FALSE"
						}
					}
				},
				"results": [
					{
						"severity": "SEVERITY_WARNING",
						"message": "Reservation team-a/team-a-cluster-node-0: create failed: NoFreeAddress: no free address in 10.0.0.0/24 (HTTP 400)",
						"target": "TARGET_COMPOSITE"
					}
				],
				"conditions": [
					{
						"type": "Bound",
						"status": "STATUS_CONDITION_FALSE",
						"reason": "AddressesExhausted",
						"message": "Reservation team-a/team-a-cluster-node-0: create failed: NoFreeAddress: no free address in 10.0.0.0/24 (HTTP 400)",
						"target": "TARGET_COMPOSITE"
					}
				]
			}`,
		},
		"InfobloxConflict": {
			in: input{xr: ipamXR(k0rdentv1beta1.ProviderInfoblox, `,"nodeNetwork":{"ipAddresses":["10.0.0.10"],"gateway":"10.0.0.1","prefix":24}`),
				observed: map[string]string{"node-0": reservation(infobloxAV, node+"-0", `{}`,
					failedStatus("create failed: Conflict: the address is in use (HTTP 400)", `{"conflict":{"address":"10.0.0.10"}}`))}},
			want: `{
				"meta": {
					"tag": "test",
					"ttl": "600s"
				},
				"desired": {
					"composite": {
						"resource": {
							"apiVersion": "k0rdent.mirantis.com/v1beta1",
							"kind": "ClusterIPAM",
							"status": {
								"phase": "Failed",
								"providerData": [
									{
										"config": {
											"apiGroup": "ipam.provider-ipam.io",
											"kind": "IPPool",
											"name": "team-a-cluster-node"
										},
										"gateway": "10.0.0.1",
										"name": "ipPool",
										"prefix": 24,
										"ready": false
									}
								]
							}
						}
					},
					"resources": {
						"node-0": {
							"resource": {
								"apiVersion": "infoblox.ipam.provider-ipam.io/v1alpha1",
								"kind": "Reservation",
								"metadata": {
									"name": "team-a-cluster-node-0",
									"namespace": "team-a"
								},
								"spec": {
									"forProvider": {
										"address": "10.0.0.10",
										"claim": "team-a/team-a-cluster",
										"gateway": "10.0.0.1",
										"prefix": 24
									},
									"providerConfigRef": {
										"kind": "ClusterProviderConfig",
										"name": "default"
									}
								}
							},
							"ready": "READY_FALSE"
						}
					}
				},
				"results": [
					{
						"severity": "SEVERITY_WARNING",
						"message": "Reservation team-a/team-a-cluster-node-0: create failed: Conflict: the address is in use (HTTP 400)",
						"target": "TARGET_COMPOSITE"
					}
				],
				"conditions": [
					{
						"type": "Bound",
						"status": "STATUS_CONDITION_FALSE",
						"reason": "AddressConflict",
						"message": "Reservation team-a/team-a-cluster-node-0: create failed: Conflict: the address is in use (HTTP 400)",
						"target": "TARGET_COMPOSITE"
					}
				]
			}`,
		},
		// A failure the provider does not classify (the API server briefly
		// unreachable) only delays binding, whatever its message says.
		"MessageIsNotRead": {
			in: input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, cidrNode), observed: map[string]string{"node": reservation(inClusterAV, node, `{}`,
				failedStatus("create failed: not enough free addresses, is already held by, still in use by machines", `{}`))}},
			want: `{
				"meta": {
					"tag": "test",
					"ttl": "600s"
				},
				"desired": {
					"composite": {
						"resource": {
							"apiVersion": "k0rdent.mirantis.com/v1beta1",
							"kind": "ClusterIPAM",
							"status": {
								"phase": "Pending",
								"providerData": [
									{
										"config": {
											"apiGroup": "ipam.provider-ipam.io",
											"kind": "IPPool",
											"name": "team-a-cluster-node"
										},
										"gateway": "10.0.0.1",
										"name": "ipPool",
										"prefix": 24,
										"ready": false
									}
								]
							}
						}
					},
					"resources": {
						"node": {
							"resource": {
								"apiVersion": "incluster.ipam.provider-ipam.io/v1alpha1",
								"kind": "Reservation",
								"metadata": {
									"name": "team-a-cluster-node",
									"namespace": "team-a"
								},
								"spec": {
									"forProvider": {
										"allAddresses": true,
										"space": {
											"cidr": "10.0.0.0/24",
											"gateway": "10.0.0.1"
										}
									}
								}
							},
							"ready": "READY_FALSE"
						}
					}
				},
				"conditions": [
					{
						"type": "Bound",
						"status": "STATUS_CONDITION_FALSE",
						"reason": "Pending",
						"message": "waiting for Reservation team-a/team-a-cluster-node to be ready (create failed: not enough free addresses, is already held by, still in use by machines)",
						"target": "TARGET_COMPOSITE"
					}
				]
			}`,
		},
		"InClusterReleasing": {
			in: input{xr: ipamXR(k0rdentv1beta1.ProviderInCluster, cidrNode), observed: map[string]string{"ipPool": pool(true), "node": reservation(inClusterAV, node, `{"count":1}`,
				`{"conditions":[{"type":"Ready","status":"True","reason":"Available"},`+fmt.Sprintf(synced, "update failed: holding 2 addresses, not 1")+`],`+
					`"atProvider":{"addresses":["10.0.0.2","10.0.0.3"],"prefix":24,"gateway":"10.0.0.1","releasing":["10.0.0.3"]}}`)}},
			want: `{
				"meta": {
					"tag": "test",
					"ttl": "600s"
				},
				"desired": {
					"composite": {
						"resource": {
							"apiVersion": "k0rdent.mirantis.com/v1beta1",
							"kind": "ClusterIPAM",
							"status": {
								"phase": "Bound",
								"providerData": [
									{
										"addresses": [
											"10.0.0.2",
											"10.0.0.3"
										],
										"config": {
											"apiGroup": "ipam.provider-ipam.io",
											"kind": "IPPool",
											"name": "team-a-cluster-node"
										},
										"gateway": "10.0.0.1",
										"name": "ipPool",
										"prefix": 24,
										"ready": true
									}
								]
							}
						}
					},
					"resources": {
						"ipPool": {
							"resource": {
								"apiVersion": "ipam.provider-ipam.io/v1alpha1",
								"kind": "IPPool",
								"metadata": {
									"name": "team-a-cluster-node",
									"namespace": "team-a"
								},
								"spec": {
									"addresses": [
										"10.0.0.2-10.0.0.3"
									],
									"gateway": "10.0.0.1",
									"prefix": 24,
									"reservationRefs": [
										{
											"apiVersion": "incluster.ipam.provider-ipam.io/v1alpha1",
											"kind": "Reservation",
											"name": "team-a-cluster-node"
										}
									]
								}
							},
							"ready": "READY_TRUE"
						},
						"node": {
							"resource": {
								"apiVersion": "incluster.ipam.provider-ipam.io/v1alpha1",
								"kind": "Reservation",
								"metadata": {
									"name": "team-a-cluster-node",
									"namespace": "team-a"
								},
								"spec": {
									"forProvider": {
										"count": 1,
										"space": {
											"cidr": "10.0.0.0/24",
											"gateway": "10.0.0.1"
										}
									}
								}
							},
							"ready": "READY_TRUE"
						}
					}
				},
				"conditions": [
					{
						"type": "Bound",
						"status": "STATUS_CONDITION_TRUE",
						"reason": "ReleasingAddresses",
						"message": "all addresses are held and the IPPool is ready; releasing the addresses the cluster no longer needs as their machines go: Reservation team-a/team-a-cluster-node: 10.0.0.3 still in use by machines",
						"target": "TARGET_COMPOSITE"
					}
				]
			}`,
		},
		"DeploymentReleasing": {
			in: input{xr: cdXR(vsphereTemplate, `,"config":{"controlPlaneNumber":1,"workersNumber":1}`+refClaim), required: map[string][]string{
				requiredClaim: {claimObj("c1-ipam", cdName, true, "c1-ipam")},
				requiredClusterIPAM: {ipamObj("c1-ipam", PhaseBound, `["10.0.0.2-10.0.0.4"]`, ReasonReleasingAddresses,
					"all addresses are held and the IPPool is ready; releasing: 10.0.0.4")},
			}},
			want: `{
				"meta": {
					"tag": "test",
					"ttl": "60s"
				},
				"desired": {
					"composite": {
						"resource": {
							"apiVersion": "k0rdent.mirantis.com/v1beta1",
							"kind": "ClusterDeployment",
							"status": {
								"ipPool": {
									"apiGroup": "ipam.provider-ipam.io",
									"kind": "IPPool",
									"name": "c1-ipam-node"
								},
								"ipamBound": true
							}
						},
						"ready": "READY_FALSE"
					}
				},
				"results": [
					{
						"severity": "SEVERITY_WARNING",
						"message": "template \"vsphere-standalone-cp-1-0-0\" needs spec.config.controlPlane.vmTemplate and spec.config.worker.vmTemplate: no cluster objects are composed without it",
						"target": "TARGET_COMPOSITE"
					}
				],
				"requirements": {
					"resources": {
						"clusterIPAM": {
							"apiVersion": "k0rdent.mirantis.com/v1beta1",
							"kind": "ClusterIPAM",
							"matchName": "c1-ipam",
							"namespace": "team-a"
						},
						"ipamClaim": {
							"apiVersion": "k0rdent.mirantis.com/v1beta1",
							"kind": "ClusterIPAMClaim",
							"matchName": "c1-ipam",
							"namespace": "team-a"
						}
					}
				},
				"conditions": [
					{
						"type": "IPAMReady",
						"status": "STATUS_CONDITION_TRUE",
						"reason": "ReleasingAddresses",
						"message": "ClusterIPAM team-a/c1-ipam is bound: IPPool c1-ipam-node holds 3 addresses for 2 nodes; ClusterIPAM team-a/c1-ipam: all addresses are held and the IPPool is ready; releasing: 10.0.0.4",
						"target": "TARGET_COMPOSITE"
					},
					{
						"type": "TemplateReady",
						"status": "STATUS_CONDITION_FALSE",
						"reason": "InvalidConfig",
						"message": "template \"vsphere-standalone-cp-1-0-0\" needs spec.config.controlPlane.vmTemplate and spec.config.worker.vmTemplate: no cluster objects are composed without it",
						"target": "TARGET_COMPOSITE"
					}
				]
			}`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(wantResponse(t, tc.want), runResponse(t, tc.in), protocmp.Transform()); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
		})
	}
}
