package v1alpha1

import (
	"reflect"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

// Package type metadata.
const (
	Group   = "ipam.provider-ipam.io"
	Version = "v1alpha1"
)

var (
	// SchemeGroupVersion is group version used to register these objects.
	SchemeGroupVersion = schema.GroupVersion{Group: Group, Version: Version}

	// SchemeBuilder is used to add go types to the GroupVersionKind scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: SchemeGroupVersion}
)

// IPPool type metadata.
var (
	IPPoolKind             = reflect.TypeOf(IPPool{}).Name()
	IPPoolGroupKind        = schema.GroupKind{Group: Group, Kind: IPPoolKind}.String()
	IPPoolGroupVersionKind = SchemeGroupVersion.WithKind(IPPoolKind)
)

func init() {
	SchemeBuilder.Register(&IPPool{}, &IPPoolList{})
}
