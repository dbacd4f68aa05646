#!/usr/bin/env bash
# Usage: cluster/local/tool.sh NAME
# Makes bin/NAME the pinned build of a development tool and prints its path.
# Tools are built from the pinned tools modules under cluster/local/tools (no
# binary is downloaded) and cached outside the work tree, keyed by version, so
# that a fresh clone, CI and the next session reuse them.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cache=${PROVIDER_IPAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/provider-ipam}
name=${1:?usage: tool.sh NAME}

# name -> tools module, package, module whose version keys the cache
case "$name" in
  kube-apiserver) mod=kube;       pkg=k8s.io/kubernetes/cmd/kube-apiserver;       ver_of=k8s.io/kubernetes ;;
  kube-controller-manager) mod=kube; pkg=k8s.io/kubernetes/cmd/kube-controller-manager; ver_of=k8s.io/kubernetes ;;
  kubectl)        mod=kube;       pkg=k8s.io/kubernetes/cmd/kubectl;              ver_of=k8s.io/kubernetes ;;
  etcd)           mod=kube;       pkg=./etcd;                                     ver_of=go.etcd.io/etcd/server/v3 ;;
  crossplane)     mod=crossplane; pkg=github.com/crossplane/crossplane/v2/cmd/crossplane; ver_of=github.com/crossplane/crossplane/v2 ;;
  crank)          mod=crossplane; pkg=github.com/crossplane/crossplane/v2/cmd/crank;      ver_of=github.com/crossplane/crossplane/v2 ;;
  crane)          mod=crossplane; pkg=github.com/google/go-containerregistry/cmd/crane;      ver_of=github.com/google/go-containerregistry ;;
  controller-gen) mod=codegen;    pkg=sigs.k8s.io/controller-tools/cmd/controller-gen;    ver_of=sigs.k8s.io/controller-tools ;;
  angryjet)       mod=codegen;    pkg=github.com/crossplane/crossplane-tools/cmd/angryjet; ver_of=github.com/crossplane/crossplane-tools ;;
  capi-ipam-in-cluster) mod=capi-ipam; pkg=sigs.k8s.io/cluster-api-ipam-provider-in-cluster; ver_of=sigs.k8s.io/cluster-api-ipam-provider-in-cluster ;;
  capi-core)      mod=capi;       pkg=sigs.k8s.io/cluster-api;                     ver_of=sigs.k8s.io/cluster-api ;;
  capv)           mod=capv;       pkg=sigs.k8s.io/cluster-api-provider-vsphere;    ver_of=sigs.k8s.io/cluster-api-provider-vsphere ;;
  vcsim)          mod=capv;       pkg=./vcsim;                                     ver_of=github.com/vmware/govmomi ;;
  *) echo "tool.sh: unknown tool $name" >&2; exit 2 ;;
esac

dir="$root/cluster/local/tools/$mod"
ver=$(go -C "$dir" list -m -f '{{.Version}}' "$ver_of")
# Crossplane checks packages' version constraints against its own version,
# which release builds stamp in; unstamped it is "" and nothing installs.
# "-stamped" keeps such builds apart from earlier unstamped ones.
ldflags='-s -w'
suffix=
case "$name" in
  crossplane|crank) ldflags="$ldflags -X github.com/crossplane/crossplane/v2/internal/version.version=$ver"; suffix=-stamped ;;
  # Cluster API's managers refuse an API server whose version they cannot
  # parse, and unstamped it reports v0.0.0-master.
  kube-apiserver)
    minor=${ver#v1.}; minor=${minor%%.*}
    ldflags="$ldflags -X k8s.io/component-base/version.gitVersion=$ver -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
    suffix=-stamped ;;
esac
cached="$cache/$name-$ver$suffix"
if [ ! -x "$cached" ]; then
  mkdir -p "$cache"
  echo "building $name $ver from Go modules (first use only; cached in $cache)" >&2
  start=$(date +%s)
  CGO_ENABLED=0 go -C "$dir" build -trimpath -ldflags="$ldflags" -o "$cached.tmp" "$pkg"
  mv "$cached.tmp" "$cached"
  echo "built $name $ver in $(( $(date +%s) - start ))s" >&2
fi
mkdir -p "$root/bin"
ln -sf "$cached" "$root/bin/$name"
echo "$root/bin/$name"
