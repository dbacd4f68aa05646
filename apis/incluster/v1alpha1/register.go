package v1alpha1

import (
	"reflect"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

// Package type metadata.
const (
	Group   = "incluster.ipam.provider-ipam.io"
	Version = "v1alpha1"
)

var (
	// SchemeGroupVersion is group version used to register these objects.
	SchemeGroupVersion = schema.GroupVersion{Group: Group, Version: Version}

	// SchemeBuilder is used to add go types to the GroupVersionKind scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: SchemeGroupVersion}
)

// Reservation type metadata.
var (
	ReservationKind             = reflect.TypeOf(Reservation{}).Name()
	ReservationGroupKind        = schema.GroupKind{Group: Group, Kind: ReservationKind}.String()
	ReservationGroupVersionKind = SchemeGroupVersion.WithKind(ReservationKind)
)

// Allocation type metadata.
var (
	AllocationKind             = reflect.TypeOf(Allocation{}).Name()
	AllocationGroupVersionKind = SchemeGroupVersion.WithKind(AllocationKind)
)

// ClusterProviderConfig and QuotaUsage type metadata.
var (
	ClusterProviderConfigKind             = reflect.TypeOf(ClusterProviderConfig{}).Name()
	ClusterProviderConfigGroupVersionKind = SchemeGroupVersion.WithKind(ClusterProviderConfigKind)
	QuotaUsageKind                        = reflect.TypeOf(QuotaUsage{}).Name()
	QuotaUsageGroupVersionKind            = SchemeGroupVersion.WithKind(QuotaUsageKind)
)

func init() {
	SchemeBuilder.Register(&Reservation{}, &ReservationList{}, &Allocation{}, &AllocationList{},
		&ClusterProviderConfig{}, &ClusterProviderConfigList{}, &QuotaUsage{}, &QuotaUsageList{})
}
