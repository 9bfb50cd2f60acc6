# Build, run and test the project. Every target works on a fresh Debian
# machine as root: missing Debian packages are installed on demand.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export GOFLAGS := -buildvcs=false
# Static binaries: the CNI plugins run on hosts of any distribution, and
# the images have no C library. Tests share the build's cache.
export CGO_ENABLED := 0

GO        ?= go
BIN       := $(CURDIR)/bin
MODULE    := github.com/calicong/calico
# Evaluated once: the version must not change while make runs.
ifndef VERSION
VERSION   := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
endif
KUBE_VERSION := v1.36.3
LDFLAGS   := -X $(MODULE)/internal/buildinfo.Version=$(VERSION)
KV        := k8s.io/component-base/version
KUBE_LDFLAGS := -s -w -X $(KV).gitVersion=$(KUBE_VERSION) -X $(KV).gitMajor=1 -X $(KV).gitMinor=36 \
	-X $(KV).gitTreeState=clean -X $(KV).gitCommit=0000000000000000000000000000000000000000 \
	-X $(KV).buildDate=2026-01-01T00:00:00Z
# Debian packages the build, the tests and the lab need.
DEBIAN_PACKAGES := iproute2 nftables conntrack containernetworking-plugins iptables bird2 clickhouse-server nodejs chromium tcpdump
# Prometheus and promtool, from upstream's module through the module proxy,
# with Kubernetes service discovery only: Debian's prometheus package is
# built without Kubernetes service discovery (docs/prometheus.md).
PROMETHEUS_MODULE  := github.com/prometheus/prometheus
PROMETHEUS_VERSION := v0.316.0
PROMETHEUS_RELEASE := 3.16.0
TEST_TIMEOUT ?= 25m

.PHONY: all build build-product build-kube build-prometheus build-web images deps run down test e2e unit bench profile-calc generate manifests verify clean

all: build

deps:
	@hack/install-deps.sh $(DEBIAN_PACKAGES)

## build: every binary into ./bin (the product's, plus the lab's control plane)
build: build-kube build-web build-product build-prometheus

# build-product: the product's binaries only; the images' build stage
# runs exactly this (Dockerfile: make build-product BIN=/out).
build-product:
	@mkdir -p $(BIN)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

# The lab's Kubernetes control plane lives in its own module so that its
# replace lines never leak into the product's go.mod. kubectl is the same
# multi-call binary under another name. coredns (the lab's cluster DNS)
# is built there too, for the same reason.
build-kube:
	@mkdir -p $(BIN)
	cd third_party/kube && $(GO) build -trimpath -ldflags "$(KUBE_LDFLAGS)" -o $(BIN)/kube-lab ./cmd/kube-lab
	ln -sf kube-lab $(BIN)/kubectl
	cd third_party/kube && $(GO) build -trimpath -o $(BIN)/coredns ./cmd/coredns

# build-web: the console's bundle, which calico-manager embeds (so before
# build-product); npm packages as package-lock.json pins them.
WEB     := internal/manager/web
WEB_SRC := $(shell find $(WEB)/app/src -type f) $(WEB)/app/index.html $(WEB)/app/vite.config.ts $(WEB)/app/tsconfig.json
build-web: $(WEB)/dist/index.html

$(WEB)/app/node_modules/.package-lock.json: $(WEB)/app/package-lock.json
	cd $(WEB)/app && npm ci --no-audit --no-fund --loglevel=error

$(WEB)/dist/index.html: $(WEB)/app/node_modules/.package-lock.json $(WEB_SRC)
	cd $(WEB)/app && npm run --silent build

build-prometheus: $(BIN)/.prometheus-$(PROMETHEUS_VERSION)

$(BIN)/.prometheus-$(PROMETHEUS_VERSION):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install -tags remove_all_sd,enable_kubernetes_sd \
		-ldflags "-X github.com/prometheus/common/version.Version=$(PROMETHEUS_RELEASE)" \
		$(PROMETHEUS_MODULE)/cmd/prometheus@$(PROMETHEUS_VERSION) $(PROMETHEUS_MODULE)/cmd/promtool@$(PROMETHEUS_VERSION)
	touch $@

## images: the container images, calicong/<target>:$(VERSION), from Dockerfile (needs a Docker engine)
IMAGES := node typha kube-controllers apiserver ctl linseed log-shipper prometheus-service manager intrusion-detection compliance packetcapture
images:
	for t in $(IMAGES); do docker build --build-arg VERSION=$(VERSION) --target $$t -t calicong/$$t:$(VERSION) . || exit 1; done

## manifests: regenerate manifests/ (what operators apply) from internal/manifests
manifests:
	$(GO) run ./hack/manifests

## run: start the local lab (3 nodes and a demo application) and print how to use it
run: deps build
	$(BIN)/calico-lab up --nodes 3 --demo

## down: stop the lab and remove its state
down:
	$(BIN)/calico-lab down

## test: every test, including the ones that need root and a real control plane
test: deps build
	$(GO) vet ./...
	hack/verify-codegen.sh
	CALICO_BIN=$(BIN) CALICO_VERSION=$(VERSION) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	cd test/images && $(GO) vet ./... && CALICO_BIN=$(BIN) CALICO_VERSION=$(VERSION) $(GO) test -count=1 ./...

## e2e: the end-to-end suite, every scenario (make test runs a representative subset)
e2e: deps build
	CALICO_BIN=$(BIN) E2E_ALL=1 $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./internal/e2e/ ./internal/lab/

## unit: only the fast tests
unit:
	$(GO) test -short ./...

## bench: benchmarks, with the ratios the issues ask for
bench: deps build
	CALICO_BIN=$(BIN) hack/bench.sh

generate:
	hack/update-codegen.sh

clean:
	rm -rf $(BIN)

## profile-calc: a heap profile of the policy engine's cold start (calc-heap.out; view with go tool pprof)
profile-calc:
	$(GO) test -run '^$$' -bench BenchmarkColdStart -benchtime 1x -memprofile calc-heap.out -memprofilerate 4096 ./internal/calc/
