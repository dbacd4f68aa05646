package localplane

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// VSphere is govmomi's simulated vCenter with the real Cluster API core and
// CAPV managers reconciling one namespace against it.
type VSphere struct {
	// Namespace is the only namespace the managers reconcile, so that the
	// cluster objects other tests compose stay untouched.
	Namespace string
	// Server is the simulator's SDK endpoint, host:port, as VSphereCluster
	// and VSphereMachineTemplate name it.
	Server string
	// Thumbprint is the SHA-1 thumbprint of the simulator's certificate,
	// which CAPV pins.
	Thumbprint string
	// Username and Password log in to the simulator; CAPV reads them from
	// its credentials file.
	Username, Password string
	// URL is the SDK URL with the credentials, for govmomi clients.
	URL string
}

// contractLabel is the label Cluster API reads a provider CRD's contract
// from; CAPV's kustomization adds it to its CRDs, whose bases lack it.
const contractLabel = "cluster.x-k8s.io/v1beta1"

// StartVSphere runs the simulator and the CAPI core and CAPV managers,
// out-of-cluster, restricted to namespace. It installs every CRD both
// managers serve, from their pinned modules: CAPI's with the conversion
// webhook pointed at the core manager's loopback webhook server (CAPI
// stores v1beta2 and CAPV v1.14.0 reads v1beta1), CAPV's with the contract
// label. The processes run until Stop.
func (p *Plane) StartVSphere(ctx context.Context, namespace string) (*VSphere, error) {
	capiDir, err := toolModuleDir(p.root, "capi", "sigs.k8s.io/cluster-api")
	if err != nil {
		return nil, err
	}
	capvDir, err := toolModuleDir(p.root, "capv", "sigs.k8s.io/cluster-api-provider-vsphere")
	if err != nil {
		return nil, err
	}
	caPEM, caKey, err := newCA("provider-ipam-localplane-webhooks")
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := signServerCert(caPEM, caKey, "localhost")
	if err != nil {
		return nil, err
	}
	certDir := filepath.Join(p.Dir, "capi-webhook-certs")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, err
	}
	for name, b := range map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM} {
		if err := os.WriteFile(filepath.Join(certDir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	var ports []int
	for len(ports) < 5 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		if !slices.Contains(ports, port) {
			ports = append(ports, port)
		}
	}
	capiWebhook, capiHealth, capvWebhook, capvHealth, simPort := ports[0], ports[1], ports[2], ports[3], ports[4]

	conversion := map[string]any{
		"strategy": "Webhook",
		"webhook": map[string]any{
			"conversionReviewVersions": []any{"v1", "v1beta1"},
			"clientConfig": map[string]any{
				"url":      fmt.Sprintf("https://127.0.0.1:%d/convert", capiWebhook),
				"caBundle": base64.StdEncoding.EncodeToString(caPEM),
			},
		},
	}
	// The kubeadm providers' CRDs carry both contract labels, as their
	// kustomizations add; their own managers do not run, so their objects
	// are served as stored (v1beta2).
	kubeadm := map[string]string{contractLabel: "v1beta1", "cluster.x-k8s.io/v1beta2": "v1beta2"}
	for _, c := range []struct {
		dir        string
		labels     map[string]string
		conversion map[string]any
	}{
		{filepath.Join(capiDir, "config", "crd", "bases"), nil, conversion},
		{filepath.Join(capiDir, "controlplane", "kubeadm", "config", "crd", "bases"), kubeadm, nil},
		{filepath.Join(capiDir, "bootstrap", "kubeadm", "config", "crd", "bases"), kubeadm, nil},
		{filepath.Join(capvDir, "config", "default", "crd", "bases"), map[string]string{contractLabel: "v1beta1"}, nil},
	} {
		if err := p.applyCRDs(ctx, c.dir, c.labels, c.conversion); err != nil {
			return nil, err
		}
	}

	common := []string{
		"--namespace=" + namespace, "--leader-elect=false", "--diagnostics-address=0",
		"--webhook-cert-dir=" + certDir,
	}
	core, err := p.start("capi-core", nil, "capi-core", append(common,
		fmt.Sprintf("--webhook-port=%d", capiWebhook), fmt.Sprintf("--health-addr=127.0.0.1:%d", capiHealth),
		// MachinePools are not part of the scenario: without the gate the
		// manager runs no controller for them. The KubeadmControlPlane a
		// composed Cluster names has no manager here, so the MachineSet
		// preflight checks, which wait for a stable control plane, would
		// hold every worker back.
		"--feature-gates=MachinePool=false,MachineSetPreflightChecks=false")...)
	if err != nil {
		return nil, err
	}
	if err := waitListening(core, fmt.Sprintf("127.0.0.1:%d", capiWebhook), 2*time.Minute); err != nil {
		return nil, err
	}
	if err := p.applyWebhooks(ctx, filepath.Join(capiDir, "config", "webhook", "manifests.yaml"), "capi-", capiWebhook, caPEM, namespace); err != nil {
		return nil, err
	}

	infoFile := filepath.Join(p.Dir, "vcsim.json")
	_ = os.Remove(infoFile)
	sim, err := p.start("vcsim", nil, "vcsim", fmt.Sprintf("--listen=127.0.0.1:%d", simPort), "--info="+infoFile)
	if err != nil {
		return nil, err
	}
	if err := waitListening(sim, fmt.Sprintf("127.0.0.1:%d", simPort), time.Minute); err != nil {
		return nil, err
	}
	vs, err := readSimulatorInfo(sim, infoFile)
	if err != nil {
		return nil, err
	}
	vs.Namespace = namespace

	// CAPV logs in with the credentials of this file where a VSphereCluster
	// names no identity.
	creds := filepath.Join(p.Dir, "capv-credentials.yaml")
	credsYAML, err := json.Marshal(map[string]string{"username": vs.Username, "password": vs.Password})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(creds, credsYAML, 0o600); err != nil {
		return nil, err
	}
	capv, err := p.start("capv", nil, "capv", append(common,
		fmt.Sprintf("--webhook-port=%d", capvWebhook), fmt.Sprintf("--health-addr=127.0.0.1:%d", capvHealth),
		"--credentials-file="+creds)...)
	if err != nil {
		return nil, err
	}
	if err := waitListening(capv, fmt.Sprintf("127.0.0.1:%d", capvWebhook), 2*time.Minute); err != nil {
		return nil, err
	}
	if err := p.applyWebhooks(ctx, filepath.Join(capvDir, "config", "govmomi", "webhook", "manifests.yaml"), "capv-", capvWebhook, caPEM, namespace); err != nil {
		return nil, err
	}
	return vs, nil
}

// applyWebhooks installs the defaulting and validating webhook
// configurations of the YAML file manifests, named with prefix, calling the manager's webhook
// server on loopback port and only for objects in namespace: the managers
// default and check what they reconcile, as installed in a cluster, and
// nothing the other tests create.
func (p *Plane) applyWebhooks(ctx context.Context, manifests, prefix string, port int, caPEM []byte, namespace string) error {
	objs, err := ReadObjects(manifests)
	if err != nil {
		return err
	}
	n := 0
	for _, o := range objs {
		if o.GetKind() != "MutatingWebhookConfiguration" && o.GetKind() != "ValidatingWebhookConfiguration" {
			continue
		}
		hooks, _, err := unstructured.NestedSlice(o.Object, "webhooks")
		if err != nil {
			return fmt.Errorf("%s %s: %w", manifests, o.GetName(), err)
		}
		for i, h := range hooks {
			hook, ok := h.(map[string]any)
			if !ok {
				return fmt.Errorf("%s %s: webhook %d is not an object", manifests, o.GetName(), i)
			}
			path, _, _ := unstructured.NestedString(hook, "clientConfig", "service", "path")
			if path == "" {
				return fmt.Errorf("%s %s: webhook %v names no service path", manifests, o.GetName(), hook["name"])
			}
			hook["clientConfig"] = map[string]any{
				"url":      fmt.Sprintf("https://127.0.0.1:%d%s", port, path),
				"caBundle": base64.StdEncoding.EncodeToString(caPEM),
			}
			hook["namespaceSelector"] = map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": namespace}}
		}
		if err := unstructured.SetNestedSlice(o.Object, hooks, "webhooks"); err != nil {
			return err
		}
		o.SetName(prefix + o.GetName())
		if err := p.Kube.Create(ctx, o); err != nil {
			return fmt.Errorf("cannot install %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("no webhook configurations in %s", manifests)
	}
	return nil
}

// readSimulatorInfo waits for the connection details the simulator writes
// once it serves.
func readSimulatorInfo(sim *proc, path string) (*VSphere, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			var info struct{ URL, Server, Username, Password, Thumbprint string }
			if err := json.Unmarshal(b, &info); err != nil {
				return nil, fmt.Errorf("cannot read the simulator's connection details %s: %w", path, err)
			}
			return &VSphere{Server: info.Server, Thumbprint: info.Thumbprint, Username: info.Username, Password: info.Password, URL: info.URL}, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		if err, ended := sim.exited(); ended {
			return nil, fmt.Errorf("vcsim exited: %v (see %s)", err, sim.log.Name())
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("vcsim wrote no connection details to %s (see %s)", path, sim.log.Name())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// applyCRDs creates or replaces every CRD of dir's YAML files, with labels
// added and, if not nil, spec.conversion replaced, and waits until the API
// server serves them.
func (p *Plane) applyCRDs(ctx context.Context, dir string, labels map[string]string, conversion map[string]any) error {
	crds, err := ReadObjects(dir)
	if err != nil {
		return err
	}
	if len(crds) == 0 {
		return fmt.Errorf("no CRDs in %s", dir)
	}
	for _, crd := range crds {
		l := crd.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		maps.Copy(l, labels)
		crd.SetLabels(l)
		if conversion != nil {
			if err := unstructured.SetNestedField(crd.Object, runtime.DeepCopyJSONValue(conversion), "spec", "conversion"); err != nil {
				return fmt.Errorf("CRD %s: %w", crd.GetName(), err)
			}
		}
		cur := &unstructured.Unstructured{}
		cur.SetGroupVersionKind(crd.GroupVersionKind())
		err := p.Kube.Get(ctx, client.ObjectKeyFromObject(crd), cur)
		switch {
		case apierrors.IsNotFound(err):
			err = p.Kube.Create(ctx, crd)
		case err == nil:
			crd.SetResourceVersion(cur.GetResourceVersion())
			err = p.Kube.Update(ctx, crd)
		}
		if err != nil {
			return fmt.Errorf("cannot install CRD %s: %w", crd.GetName(), err)
		}
	}
	for _, crd := range crds {
		if err := p.wait(ctx, time.Minute, "CRD "+crd.GetName()+" established", func(ctx context.Context) (bool, error) {
			cur := &unstructured.Unstructured{}
			cur.SetGroupVersionKind(crd.GroupVersionKind())
			if err := p.Kube.Get(ctx, client.ObjectKeyFromObject(crd), cur); err != nil {
				return false, err
			}
			return conditionTrue(cur, "Established"), nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// toolModuleDir is where the Go module cache holds module, as the tools
// module under cluster/local/tools/tool pins it: the CRDs installed are
// those of the binaries that run.
func toolModuleDir(root, tool, module string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = filepath.Join(root, "cluster", "local", "tools", tool)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("cannot locate module %s of tools module %s: %w", module, tool, err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("module %s of tools module %s is not downloaded", module, tool)
	}
	return dir, nil
}
