package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	xpv1 "github.com/crossplane/crossplane-runtime/v2/apis/common/v1"
	xpv2 "github.com/crossplane/crossplane-runtime/v2/apis/common/v2"
)

// Endpoint says where the grid's WAPI is and which views to use.
type Endpoint struct {
	// Host name or IP address of the Grid Master's WAPI.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Host string `json:"host"`

	// Port of the WAPI (HTTPS).
	// +optional
	// +kubebuilder:default=443
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`

	// Version of the WAPI, e.g. "2.12".
	// +optional
	// +kubebuilder:default="2.12"
	// +kubebuilder:validation:Pattern=`^[0-9]+\.[0-9]+(\.[0-9]+)?$`
	Version string `json:"version,omitempty"`

	// NetworkView the reservations live in.
	// +optional
	// +kubebuilder:default="default"
	// +kubebuilder:validation:MaxLength=64
	NetworkView string `json:"networkView,omitempty"`

	// DNSView for host records configured for DNS. Without it host records
	// are created without DNS.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	DNSView string `json:"dnsView,omitempty"`

	// RequestTimeout bounds each WAPI request: a Go duration such as 30s or
	// 1m30s. Checked at admission: a value the provider cannot read would
	// stop it from reading any ProviderConfig, every tenant's.
	// +optional
	// +kubebuilder:default="60s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	RequestTimeout *metav1.Duration `json:"requestTimeout,omitempty"`
}

// LocalCredentials name a Secret in the ProviderConfig's own namespace with
// the keys "username" and "password".
type LocalCredentials struct {
	// SecretRef names the Secret.
	SecretRef xpv1.LocalSecretReference `json:"secretRef"`
}

// ClusterCredentials name a Secret with the keys "username" and "password".
type ClusterCredentials struct {
	// SecretRef names the Secret and its namespace.
	SecretRef xpv1.SecretReference `json:"secretRef"`
}

// LocalTLS configures how the grid's certificate is verified. Verification
// is always on unless insecureSkipVerify is set.
// +kubebuilder:validation:XValidation:rule="!(has(self.caBundle) && has(self.caBundleSecretRef))",message="set at most one of caBundle and caBundleSecretRef"
type LocalTLS struct {
	// CABundle is PEM-encoded CA certificates that sign the grid's
	// certificate. Without it (or caBundleSecretRef) the system's roots are
	// used.
	// +optional
	CABundle string `json:"caBundle,omitempty"`
	// CABundleSecretRef selects a key of a Secret in the ProviderConfig's
	// namespace holding the PEM CA bundle.
	// +optional
	CABundleSecretRef *xpv1.LocalSecretKeySelector `json:"caBundleSecretRef,omitempty"`
	// InsecureSkipVerify turns certificate verification off. Never do this
	// outside a lab.
	// +optional
	// +kubebuilder:default=false
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// ClusterTLS configures how the grid's certificate is verified. Verification
// is always on unless insecureSkipVerify is set.
// +kubebuilder:validation:XValidation:rule="!(has(self.caBundle) && has(self.caBundleSecretRef))",message="set at most one of caBundle and caBundleSecretRef"
type ClusterTLS struct {
	// CABundle is PEM-encoded CA certificates that sign the grid's
	// certificate. Without it (or caBundleSecretRef) the system's roots are
	// used.
	// +optional
	CABundle string `json:"caBundle,omitempty"`
	// CABundleSecretRef selects a key of a Secret holding the PEM CA bundle.
	// +optional
	CABundleSecretRef *xpv1.SecretKeySelector `json:"caBundleSecretRef,omitempty"`
	// InsecureSkipVerify turns certificate verification off. Never do this
	// outside a lab.
	// +optional
	// +kubebuilder:default=false
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// ProviderConfigSpec configures access to a grid for Reservations in the
// ProviderConfig's namespace.
type ProviderConfigSpec struct {
	Endpoint `json:",inline"`
	// Credentials of a WAPI user allowed to manage fixed addresses and host
	// records in the network view.
	Credentials LocalCredentials `json:"credentials"`
	// TLS settings.
	// +optional
	TLS *LocalTLS `json:"tls,omitempty"`
}

// ClusterProviderConfigSpec configures access to a grid for Reservations in
// any namespace.
type ClusterProviderConfigSpec struct {
	Endpoint `json:",inline"`
	// Credentials of a WAPI user allowed to manage fixed addresses and host
	// records in the network view.
	Credentials ClusterCredentials `json:"credentials"`
	// TLS settings.
	// +optional
	TLS *ClusterTLS `json:"tls,omitempty"`
}

// A ProviderConfigStatus reflects the observed state of a ProviderConfig.
type ProviderConfigStatus struct {
	xpv1.ProviderConfigStatus `json:",inline"`
}

// +kubebuilder:object:root=true

// A ProviderConfig says how Reservations in its namespace reach an Infoblox
// grid. It cannot be used from another namespace.
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="HOST",type="string",JSONPath=".spec.host"
// +kubebuilder:printcolumn:name="VIEW",type="string",JSONPath=".spec.networkView"
// +kubebuilder:printcolumn:name="USERS",type="integer",JSONPath=".status.users"
// +kubebuilder:printcolumn:name="SECRET-NAME",type="string",JSONPath=".spec.credentials.secretRef.name",priority=1
// +kubebuilder:printcolumn:name="AGE",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:resource:scope=Namespaced,categories={crossplane,provider,ipam}
type ProviderConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ProviderConfigSpec   `json:"spec"`
	Status ProviderConfigStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ProviderConfigList contains a list of ProviderConfig.
type ProviderConfigList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ProviderConfig `json:"items"`
}

// +kubebuilder:object:root=true

// A ClusterProviderConfig says how Reservations in any namespace reach an
// Infoblox grid.
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="HOST",type="string",JSONPath=".spec.host"
// +kubebuilder:printcolumn:name="VIEW",type="string",JSONPath=".spec.networkView"
// +kubebuilder:printcolumn:name="USERS",type="integer",JSONPath=".status.users"
// +kubebuilder:printcolumn:name="SECRET-NAME",type="string",JSONPath=".spec.credentials.secretRef.name",priority=1
// +kubebuilder:printcolumn:name="AGE",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:resource:scope=Cluster,categories={crossplane,provider,ipam}
type ClusterProviderConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ClusterProviderConfigSpec `json:"spec"`
	Status ProviderConfigStatus      `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ClusterProviderConfigList contains a list of ClusterProviderConfig.
type ClusterProviderConfigList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterProviderConfig `json:"items"`
}

// +kubebuilder:object:root=true

// A ProviderConfigUsage records that a Reservation in its namespace uses a
// ProviderConfig or a ClusterProviderConfig (providerConfigRef.kind says
// which), so that neither is deleted while in use. As crossplane-runtime v2
// does for namespaced managed resources, usages of a ClusterProviderConfig
// are recorded here too, in the user's namespace.
// +kubebuilder:printcolumn:name="CONFIG-KIND",type="string",JSONPath=".providerConfigRef.kind"
// +kubebuilder:printcolumn:name="CONFIG-NAME",type="string",JSONPath=".providerConfigRef.name"
// +kubebuilder:printcolumn:name="RESOURCE-KIND",type="string",JSONPath=".resourceRef.kind"
// +kubebuilder:printcolumn:name="RESOURCE-NAME",type="string",JSONPath=".resourceRef.name"
// +kubebuilder:printcolumn:name="AGE",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:resource:scope=Namespaced,categories={crossplane,provider,ipam}
type ProviderConfigUsage struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	xpv2.TypedProviderConfigUsage `json:",inline"`
}

// +kubebuilder:object:root=true

// ProviderConfigUsageList contains a list of ProviderConfigUsage.
type ProviderConfigUsageList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ProviderConfigUsage `json:"items"`
}
