package localplane

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/provider-ipam/provider-ipam/internal/xpkg"
)

// Names of the packages as Crossplane installs them. The Configuration is
// applied under its metadata name; Crossplane names the packages it
// installs for the Configuration's dependencies after their repositories.
const (
	ConfigurationName = "configuration-provider-ipam"
	ProviderName      = "provider-ipam-provider-ipam"
	FunctionName      = "provider-ipam-function-provider-ipam"

	// PackageVersion is the version the harness builds and pushes.
	PackageVersion = "v0.1.0"
	// packageRepository is where the Configuration and its dependencies
	// say the packages are; an ImageConfig sends Crossplane to the loopback
	// registry instead, as a platform team mirrors packages.
	packageRepository = "xpkg.crossplane.io/provider-ipam/"
	imageConfigName   = "provider-ipam-loopback-registry"
	functionTLSSecret = "function-provider-ipam-tls-server"
	providerTLSSecret = "provider-ipam-tls-server"
)

// PackageStatus is a package's state as Crossplane reports it.
type PackageStatus struct {
	Kind, Name, Package string
	Installed, Healthy  bool
	// Message is the Healthy condition's message when it is not True.
	Message string
}

// Packages reports the Configuration, the Provider and the Function.
func (p *Plane) Packages(ctx context.Context) ([]PackageStatus, error) {
	var out []PackageStatus
	for _, k := range []struct{ kind, name string }{{"Configuration", ConfigurationName}, {"Provider", ProviderName}, {"Function", FunctionName}} {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("pkg.crossplane.io/v1")
		u.SetKind(k.kind)
		s := PackageStatus{Kind: k.kind, Name: k.name}
		if err := p.Kube.Get(ctx, client.ObjectKey{Name: k.name}, u); err != nil {
			if !kerrors.IsNotFound(err) {
				return nil, err
			}
			s.Message = "not installed yet"
			out = append(out, s)
			continue
		}
		s.Package, _, _ = unstructured.NestedString(u.Object, "spec", "package")
		s.Installed = conditionTrue(u, "Installed")
		s.Healthy = conditionTrue(u, "Healthy")
		if !s.Healthy {
			s.Message = conditionMessage(u, "Healthy")
		}
		out = append(out, s)
	}
	return out, nil
}

// installPackages installs provider-ipam the way a platform team does: it
// builds the three packages, pushes them to a loopback registry, points
// Crossplane at that registry with an ImageConfig and applies one
// Configuration. Crossplane resolves its dependencies, installs the
// Provider and the Function and delivers their CRDs. With the External
// runtime Crossplane runs nothing, so the harness is the runtime: it runs
// the function and the provider for their active revisions, tells
// Crossplane where they are and that they are healthy, and waits until the
// three packages are Installed and Healthy and the XRDs established.
func (p *Plane) installPackages(ctx context.Context, providerArgs []string) error {
	crank, err := p.bin("crank")
	if err != nil {
		return err
	}
	regPort, err := freePort()
	if err != nil {
		return err
	}
	registry := fmt.Sprintf("127.0.0.1:%d", regPort)
	p.registry = registry
	reg, err := p.start("registry", nil, "crane", "registry", "serve", "--address", registry)
	if err != nil {
		return err
	}
	if err := waitListening(reg, registry, 30*time.Second); err != nil {
		return err
	}
	artifacts, err := xpkg.Build(ctx, xpkg.Options{Root: p.root, Out: filepath.Join(p.Dir, "xpkg"), Version: PackageVersion, Crank: crank})
	if err != nil {
		return err
	}
	for _, a := range artifacts {
		if err := xpkg.Push(ctx, crank, a, p.registryRef(a.Package, PackageVersion)); err != nil {
			return err
		}
		p.runFromPackage(a)
	}
	ic := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "pkg.crossplane.io/v1beta1",
		"kind":       "ImageConfig",
		"metadata":   map[string]any{"name": imageConfigName},
		"spec": map[string]any{
			"matchImages":  []any{map[string]any{"type": "Prefix", "prefix": packageRepository}},
			"rewriteImage": map[string]any{"prefix": registry + "/provider-ipam/"},
		},
	}}
	if err := p.Kube.Create(ctx, ic); err != nil {
		return fmt.Errorf("cannot create the ImageConfig: %w", err)
	}

	ca := &corev1.Secret{}
	if err := p.Kube.Get(ctx, types.NamespacedName{Namespace: CrossplaneNamespace, Name: rootCASecret}, ca); err != nil {
		return fmt.Errorf("cannot read Crossplane's root CA: %w", err)
	}
	fnEndpoint, err := p.startFunction(ctx, ca)
	if err != nil {
		return err
	}
	// Crossplane reads a provider revision's TLS server secret before it
	// establishes the CRDs (it would inject its certificate into conversion
	// webhooks); its Deployment runtime would create the secret.
	if _, err := p.createTLSSecret(ctx, ca, providerTLSSecret, "provider-ipam"); err != nil {
		return err
	}

	// The provider is a safe-start provider: its managed kinds' CRDs exist
	// only once a policy activates them. The example policy, as a platform
	// team without Crossplane's default policy would apply it.
	mrap, err := ReadObjects(filepath.Join(p.root, "examples", "crossplane", "managedresourceactivationpolicy.yaml"))
	if err != nil {
		return err
	}
	for _, o := range mrap {
		if err := p.Kube.Create(ctx, o); client.IgnoreAlreadyExists(err) != nil {
			return fmt.Errorf("cannot create the ManagedResourceActivationPolicy: %w", err)
		}
	}

	cfg := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "pkg.crossplane.io/v1",
		"kind":       "Configuration",
		"metadata":   map[string]any{"name": ConfigurationName},
		"spec":       map[string]any{"package": ConfigurationPackage(PackageVersion)},
	}}
	if err := p.Kube.Create(ctx, cfg); err != nil {
		return fmt.Errorf("cannot install the Configuration: %w", err)
	}

	p.providerArgs = providerArgs
	seen := "nothing yet"
	err = p.wait(ctx, 5*time.Minute, "the Configuration, the Provider and the Function to be Installed and Healthy", func(ctx context.Context) (bool, error) {
		if err := p.runFunctionRevisions(ctx, fnEndpoint); err != nil {
			return false, err
		}
		if err := p.runProviderRevisions(ctx); err != nil {
			return false, err
		}
		pkgs, err := p.Packages(ctx)
		if err != nil {
			return false, err
		}
		var notReady []string
		for _, s := range pkgs {
			if !s.Installed || !s.Healthy {
				notReady = append(notReady, fmt.Sprintf("%s %s (installed %t, healthy %t: %s)", s.Kind, s.Name, s.Installed, s.Healthy, s.Message))
			}
		}
		seen = strings.Join(notReady, "; ")
		return len(notReady) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("%w; last seen %s", err, seen)
	}
	return p.wait(ctx, 2*time.Minute, "the XRDs to be established", func(ctx context.Context) (bool, error) {
		xrds := &unstructured.UnstructuredList{}
		xrds.SetAPIVersion("apiextensions.crossplane.io/v2")
		xrds.SetKind("CompositeResourceDefinitionList")
		if err := p.Kube.List(ctx, xrds); err != nil {
			return false, err
		}
		if len(xrds.Items) == 0 {
			return false, nil
		}
		for i := range xrds.Items {
			if !conditionTrue(&xrds.Items[i], "Established") {
				return false, nil
			}
		}
		return true, nil
	})
}

// PublishConfiguration builds the configuration package from root (a
// directory holding package/configuration, as the repository does) and
// pushes it to the plane's registry as version, where the Configuration's
// spec.package finds it: how a platform team's next release arrives.
func (p *Plane) PublishConfiguration(ctx context.Context, root, version string) error {
	return p.publish(ctx, xpkg.Configuration, root, version)
}

// publish builds pkg as version from the package directories under
// packageRoot (binaries from the repository, for this machine's platform
// only) and pushes it to the plane's registry.
func (p *Plane) publish(ctx context.Context, pkg xpkg.Package, packageRoot, version string) error {
	crank, err := p.bin("crank")
	if err != nil {
		return err
	}
	artifacts, err := xpkg.Build(ctx, xpkg.Options{
		Root: p.root, PackageRoot: packageRoot, Out: filepath.Join(p.Dir, "xpkg-"+version), Version: version, Crank: crank,
		Packages: []xpkg.Package{pkg}, Platforms: []xpkg.Platform{{OS: "linux", Arch: runtime.GOARCH}},
	})
	if err != nil {
		return err
	}
	if err := xpkg.Push(ctx, crank, artifacts[0], p.registryRef(pkg, version)); err != nil {
		return err
	}
	p.runFromPackage(artifacts[0])
	return nil
}

// runFromPackage makes the processes started for a's package from now on
// run the binary a embeds for this machine, as a pod of its revision
// would: a plane run by `go test` alone, without `make build`, would
// otherwise run a stale bin/provider and measure or test old code.
func (p *Plane) runFromPackage(a xpkg.Artifact) {
	b, ok := a.Binaries[xpkg.Platform{OS: runtime.GOOS, Arch: runtime.GOARCH}]
	if !ok {
		return
	}
	if p.runtimes == nil {
		p.runtimes = map[string]string{}
	}
	p.runtimes[filepath.Base(a.Package.Entrypoint)] = b
}

// registryRef is where pkg at version is pushed in the plane's registry.
func (p *Plane) registryRef(pkg xpkg.Package, version string) string {
	return fmt.Sprintf("%s/provider-ipam/%s:%s", p.registry, pkg.Name, version)
}

// ConfigurationPackage is the package reference of the Configuration at
// version, as spec.package takes it.
func ConfigurationPackage(version string) string {
	return packageRepository + ConfigurationName + ":" + version
}

// createTLSSecret issues a server certificate from Crossplane's root CA and
// stores it where Crossplane looks for a package's TLS server secret; it
// returns a directory holding the same files, for the process.
func (p *Plane) createTLSSecret(ctx context.Context, ca *corev1.Secret, name, commonName string) (string, error) {
	crt, key, err := signServerCert(ca.Data["tls.crt"], ca.Data["tls.key"], commonName)
	if err != nil {
		return "", fmt.Errorf("cannot issue the certificate of %s: %w", commonName, err)
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: CrossplaneNamespace, Name: name},
		Data:       map[string][]byte{"tls.crt": crt, "tls.key": key, "ca.crt": ca.Data["tls.crt"]},
	}
	if err := p.Kube.Create(ctx, s); err != nil {
		return "", err
	}
	dir := filepath.Join(p.Dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	for k, v := range s.Data {
		if err := os.WriteFile(filepath.Join(dir, k), v, 0o600); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// startFunction runs the function with a server certificate from
// Crossplane's root CA, which Crossplane verifies it against, and returns
// its endpoint. It runs before its revision exists: the endpoint must be
// set before the first composite is reconciled.
func (p *Plane) startFunction(ctx context.Context, ca *corev1.Secret) (string, error) {
	certDir, err := p.createTLSSecret(ctx, ca, functionTLSSecret, "function-provider-ipam")
	if err != nil {
		return "", err
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	endpoint := fmt.Sprintf("127.0.0.1:%d", port)
	fn, err := p.start("function", nil, "function", "--address="+endpoint, "--tls-certs-dir="+certDir)
	if err != nil {
		return "", err
	}
	return endpoint, waitListening(fn, endpoint, 30*time.Second)
}

// revisions lists the revisions of the package called name.
func (p *Plane) revisions(ctx context.Context, kind, name string) ([]unstructured.Unstructured, error) {
	revs := &unstructured.UnstructuredList{}
	revs.SetAPIVersion("pkg.crossplane.io/v1")
	revs.SetKind(kind + "List")
	if err := p.Kube.List(ctx, revs, client.MatchingLabels{"pkg.crossplane.io/package": name}); err != nil {
		return nil, err
	}
	return revs.Items, nil
}

// runFunctionRevisions points every FunctionRevision at the running
// function and its TLS secret, and reports the active one's runtime
// healthy once Crossplane has established it: the function listens (it
// was started before the revision existed).
func (p *Plane) runFunctionRevisions(ctx context.Context, endpoint string) error {
	revs, err := p.revisions(ctx, "FunctionRevision", FunctionName)
	if err != nil {
		return err
	}
	for i := range revs {
		r := &revs[i]
		ep, _, _ := unstructured.NestedString(r.Object, "status", "endpoint")
		sn, _, _ := unstructured.NestedString(r.Object, "status", "tlsServerSecretName")
		if ep != endpoint || sn != functionTLSSecret {
			patch := fmt.Appendf(nil, `{"status":{"endpoint":%q,"tlsServerSecretName":%q}}`, endpoint, functionTLSSecret)
			if err := p.Kube.Status().Patch(ctx, r, client.RawPatch(types.MergePatchType, patch)); err != nil && !kerrors.IsConflict(err) {
				return err
			}
			continue
		}
		if active(r) && conditionTrue(r, "RevisionHealthy") {
			if err := p.markRuntimeHealthy(ctx, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// A providerRun is the provider process of one ProviderRevision.
type providerRun struct {
	revision string
	ready    string // the readiness probe's address
	proc     *proc
}

// runProviderRevisions gives every ProviderRevision its TLS secret and,
// once the active one is healthy (its CRDs are established), runs the
// provider for it, replacing the process of a revision no longer active
// (an upgrade or a rollback), then reports the runtime healthy when the
// provider's readiness probe answers.
func (p *Plane) runProviderRevisions(ctx context.Context) error {
	revs, err := p.revisions(ctx, "ProviderRevision", ProviderName)
	if err != nil {
		return err
	}
	for i := range revs {
		r := &revs[i]
		if sn, _, _ := unstructured.NestedString(r.Object, "status", "tlsServerSecretName"); sn != providerTLSSecret {
			patch := fmt.Appendf(nil, `{"status":{"tlsServerSecretName":%q}}`, providerTLSSecret)
			if err := p.Kube.Status().Patch(ctx, r, client.RawPatch(types.MergePatchType, patch)); err != nil && !kerrors.IsConflict(err) {
				return err
			}
			continue
		}
		if !active(r) || !conditionTrue(r, "RevisionHealthy") {
			continue
		}
		if p.provider.revision != r.GetName() {
			// Crossplane turns the managed resources' CRDs into
			// ManagedResourceDefinitions and creates the CRDs from them
			// after the revision is healthy, as the activation policy
			// allows. The provider would start each controller as its
			// kind arrives; waiting for all checks the policy took.
			if served, err := p.providerCRDsEstablished(ctx); err != nil || !served {
				return err
			}
			if err := p.switchProvider(r.GetName()); err != nil {
				return err
			}
		}
		if !probeReady(p.provider.ready) {
			continue
		}
		if err := p.markRuntimeHealthy(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// switchProvider stops the provider of the previous revision, if any, as a
// Deployment's rollout would, and starts one for revision. Its log is
// provider.log for the first revision, provider-<revision>.log after.
func (p *Plane) switchProvider(revision string) error {
	logName := "provider"
	if old := p.provider.proc; old != nil {
		old.stop()
		p.procs = slices.DeleteFunc(p.procs, func(pr *proc) bool { return pr == old })
		logName = "provider-" + revision
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	ready := fmt.Sprintf("127.0.0.1:%d", port)
	pr, err := p.startProviderAs(logName, append([]string{"--health-probe-bind-address=" + ready}, p.providerArgs...)...)
	if err != nil {
		return err
	}
	p.provider = providerRun{revision: revision, ready: ready, proc: pr}
	return nil
}

// UpgradeProvider builds the provider package from packageRoot (a
// directory holding package/, as the repository does; the binary is built
// from the repository) as version, pushes it, points the Provider at it as
// a platform team would, and runs the provider for the new revision until
// the Provider is Installed and Healthy at that version.
func (p *Plane) UpgradeProvider(ctx context.Context, packageRoot, version string) error {
	if err := p.publish(ctx, xpkg.Provider, packageRoot, version); err != nil {
		return err
	}
	want := packageRepository + xpkg.Provider.Name + ":" + version
	old := p.provider.revision
	pv := &unstructured.Unstructured{}
	pv.SetAPIVersion("pkg.crossplane.io/v1")
	pv.SetKind("Provider")
	pv.SetName(ProviderName)
	patch := fmt.Appendf(nil, `{"spec":{"package":%q}}`, want)
	if err := p.Kube.Patch(ctx, pv, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("cannot point the Provider at %s: %w", want, err)
	}
	seen := "nothing yet"
	err := p.wait(ctx, 5*time.Minute, "the Provider to be Installed and Healthy at "+version, func(ctx context.Context) (bool, error) {
		if err := p.runProviderRevisions(ctx); err != nil {
			return false, err
		}
		if err := p.Kube.Get(ctx, client.ObjectKeyFromObject(pv), pv); err != nil {
			return false, err
		}
		current, _, _ := unstructured.NestedString(pv.Object, "status", "currentRevision")
		seen = fmt.Sprintf("revision %q installed %t healthy %t (%s); the provider runs for %q", current,
			conditionTrue(pv, "Installed"), conditionTrue(pv, "Healthy"), conditionMessage(pv, "Healthy"), p.provider.revision)
		return current != old && current == p.provider.revision && conditionTrue(pv, "Installed") && conditionTrue(pv, "Healthy"), nil
	})
	if err != nil {
		return fmt.Errorf("%w; last seen %s", err, seen)
	}
	return nil
}

// providerCRDsEstablished reports whether every CRD of the provider package
// is established.
func (p *Plane) providerCRDsEstablished(ctx context.Context) (bool, error) {
	crds, err := ReadObjects(filepath.Join(p.root, "package", "crds"))
	if err != nil {
		return false, err
	}
	for _, c := range crds {
		cur := &unstructured.Unstructured{}
		cur.SetGroupVersionKind(c.GroupVersionKind())
		if err := p.Kube.Get(ctx, client.ObjectKeyFromObject(c), cur); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		if !conditionTrue(cur, "Established") {
			return false, nil
		}
	}
	return true, nil
}

func active(r *unstructured.Unstructured) bool {
	s, _, _ := unstructured.NestedString(r.Object, "spec", "desiredState")
	return s == "Active"
}

// probeReady reports whether the readiness probe at addr answers 200.
func probeReady(addr string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + addr + "/readyz")
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// markRuntimeHealthy sets a revision's RuntimeHealthy condition, as
// Crossplane's Deployment runtime does once the package's Deployment is
// available; the package is Healthy only with it.
func (p *Plane) markRuntimeHealthy(ctx context.Context, r *unstructured.Unstructured) error {
	if conditionTrue(r, "RuntimeHealthy") {
		return nil
	}
	conds, _, _ := unstructured.NestedSlice(r.Object, "status", "conditions")
	kept := conds[:0]
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] != "RuntimeHealthy" {
			kept = append(kept, c)
		}
	}
	kept = append(kept, map[string]any{
		"type": "RuntimeHealthy", "status": "True", "reason": "HealthyPackageRevision",
		"lastTransitionTime": metav1.Now().UTC().Format(time.RFC3339),
	})
	if err := unstructured.SetNestedSlice(r.Object, kept, "status", "conditions"); err != nil {
		return err
	}
	// A conflict means Crossplane wrote the revision meanwhile: the next
	// poll sees its version and sets the condition again.
	if err := p.Kube.Status().Update(ctx, r); err != nil && !kerrors.IsConflict(err) {
		return err
	}
	return nil
}

func conditionMessage(u *unstructured.Unstructured, typ string) string {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == typ {
			s, _ := m["message"].(string)
			return s
		}
	}
	return ""
}
