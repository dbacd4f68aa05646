// Package v1beta1 names k0rdent's kinds (k0rdent.mirantis.com/v1beta1) that
// provider-ipam serves and the values of theirs it relies on. The
// configuration package's XRDs define their schema, so there are no Go
// types here: the function, the provider, the demo and the tests all take
// these names from this one place.
package v1beta1
