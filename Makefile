# provider-ipam. Everything builds from pinned Go modules: no binary is
# downloaded. Tools are cached in ~/.cache/provider-ipam, keyed by version.
SHELL := /usr/bin/env bash
export GOFLAGS ?= -buildvcs=false
TOOL := cluster/local/tool.sh
TOOLS := etcd kube-apiserver kube-controller-manager kubectl controller-gen angryjet crossplane crank crane
# The end-to-end suite also runs Cluster API's core and CAPV managers against
# the vCenter simulator; the demo does not need them.
E2E_TOOLS := capi-core capv vcsim
PKGS := ./...

.PHONY: all tools e2e-tools generate check-generate build xpkg lint test test-chaos bench bench-e2e demo clean

all: build

## tools: build the pinned kube-apiserver, kube-controller-manager, etcd, kubectl, Crossplane, crank, crane, controller-gen and angryjet into bin/
tools:
	@for t in $(TOOLS); do $(TOOL) $$t >/dev/null || exit 1; done

## e2e-tools: build the pinned Cluster API core and CAPV managers and the vCenter simulator into bin/
e2e-tools:
	@for t in $(E2E_TOOLS); do $(TOOL) $$t >/dev/null || exit 1; done

## generate: regenerate deepcopy, managed-resource methods and CRDs
generate:
	@$(TOOL) controller-gen >/dev/null && $(TOOL) angryjet >/dev/null
	bin/controller-gen object:headerFile=hack/boilerplate.go.txt paths=./apis/... crd:crdVersions=v1 output:crd:artifacts:config=package/crds
	bin/angryjet generate-methodsets --header-file=hack/boilerplate.go.txt ./apis/...

## check-generate: fail if generated files are stale
check-generate: generate
	@if [ -n "$$(git status --porcelain -- apis package/crds)" ]; then \
		git status --porcelain -- apis package/crds; git diff --stat -- apis package/crds; \
		echo "generated files are stale: run 'make generate' and commit the result" >&2; exit 1; fi

## build: build the provider, the composition function and the WAPI emulator into bin/
build:
	CGO_ENABLED=0 go build -o bin/provider ./cmd/provider
	CGO_ENABLED=0 go build -o bin/function ./cmd/function
	CGO_ENABLED=0 go build -o bin/wapisim ./cmd/wapisim

## xpkg: build the provider, function and configuration packages into _output/xpkg (runtime images for linux/amd64 and linux/arm64; see docs/install.md)
VERSION ?= v0.1.0
xpkg:
	@$(TOOL) crank >/dev/null
	go run ./hack/xpkg --version=$(VERSION) --out=_output/xpkg

## lint: go vet and gofmt
lint:
	go vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## test: generated files current, lint, unit tests (race detector), integration tests on a real API server, end-to-end tests on real Crossplane, then the fault suite
test: tools e2e-tools check-generate lint build
	go test -race -count=1 ./internal/addressing/... ./internal/wapisim/...
	go test -count=1 -timeout 30m $(PKGS)
	$(CHAOS)

## test-chaos: the fault suite alone: two leader-electing provider replicas, one SIGKILLed every few seconds, while the WAPI emulator fails requests; then no address twice and nothing left behind
test-chaos: tools build
	$(CHAOS)

CHAOS := PROVIDER_IPAM_CHAOS=1 go test -count=1 -v -timeout 20m ./test/chaos/

## bench: allocation benchmarks (address index, and the ledger on a real API server)
bench: tools
	go test -run '^$$' -bench . -benchtime 2000x ./internal/addressing/
	go test -run '^$$' -bench . -benchtime 300x -timeout 60m ./internal/clients/incluster/
	go test -run '^$$' -bench BenchmarkInfobloxReserve -benchtime 2000x ./internal/clients/infoblox/

## bench-e2e: claims/s through the CAPI contract on the local control plane, side by side with Cluster API's in-cluster IPAM provider (built from its module)
bench-e2e: tools build
	@$(TOOL) capi-ipam-in-cluster >/dev/null
	go test -run '^$$' -bench 'BenchmarkClaims|BenchmarkHeld|BenchmarkClusterIPAMClaims' -benchtime 1x -timeout 90m ./test/bench/

## demo: a local control plane with the provider and the WAPI emulator; applies examples/ and prints what was allocated
demo: tools build
	go run ./cluster/local/demo

clean:
	rm -rf bin/ _output/
