# Ferry's developer entry points. `make test` is what CI runs (.ci/run installs the system
# packages the tests need first); `make demo` runs Ferry on the bundled example monorepo.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
FERRY := $(BIN)/ferry
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# Pinned tools are cached by version outside the checkout so that later runs reuse them.
# internal/pinned says which version and where, for the Makefile, the CLI and the tests alike.
ifndef TOOLS
TOOLS := $(shell $(GO) run ./internal/pinned/toolsdir)
endif
ifeq ($(TOOLS),)
$(error no tools folder: set FERRY_TOOLS_DIR or FERRY_CACHE_DIR)
endif
TRIVY_VERSION := $(shell cat internal/pinned/trivy.version)
TRIVY := $(TOOLS)/trivy-$(TRIVY_VERSION)/trivy
MKDB := $(TOOLS)/mkdb-$(shell cat tools/go.sum tools/mkdb/*.go | sha256sum | cut -c1-12)/mkdb

export FERRY_TOOLS_DIR := $(TOOLS)
export FERRY_TRIVY := $(TRIVY)
export FERRY_MKDB := $(MKDB)

K8S_VERSION := $(shell $(GO) run ./internal/testenv/k8sversion)
K8S_LAB := $(TOOLS)/k8s-lab-$(K8S_VERSION)

.PHONY: all build test lint bench tools k8s-cluster k8s-lab demo release docs clean

all: lint build test

build:
	$(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(FERRY) ./cmd/ferry

# Every test, with the race detector. Real components: docker-registry and buildah from
# Debian (see .ci/run), the pinned Trivy CLI and the fixture DB builder (make tools).
test: tools
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 30m ./...

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "not gofmt-ed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod tidy -diff

bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	FERRY=$(FERRY) bench/plan.sh

tools: $(TRIVY) $(MKDB)

# The Kubernetes test cluster's binaries, built from the Go module proxy and cached by version
# (cold ≈ 10–20 min on 2 cores). Tests start the cluster themselves, or use
# $$FERRY_TEST_KUBECONFIG (.ci/run starts one for the whole run). k8s-cluster is what the tests
# and the demo need (etcd, the control plane, kwok), as .ci/run builds it; k8s-lab adds kubectl
# and the helm CLI, for bench/release.sh.
k8s-cluster:
	LAB=$(K8S_LAB) K8S_VERSION=$(K8S_VERSION) BUILD_KUBECTL=0 internal/testenv/k8slab/build.sh etcd k8s kwok

k8s-lab:
	LAB=$(K8S_LAB) K8S_VERSION=$(K8S_VERSION) internal/testenv/k8slab/build.sh

# Trivy is built, never linked into Ferry: it needs GOEXPERIMENT=jsonv2 and adds 344 MB.
$(TRIVY):
	GOEXPERIMENT=jsonv2 GOBIN=$(dir $(TRIVY)) $(GO) install \
	  -ldflags "-X github.com/aquasecurity/trivy/pkg/version/app.ver=$(TRIVY_VERSION:v%=%)" \
	  github.com/aquasecurity/trivy/cmd/trivy@$(TRIVY_VERSION)

$(MKDB): tools/go.mod tools/go.sum $(wildcard tools/mkdb/*.go)
	mkdir -p $(dir $(MKDB))
	$(GO) -C tools build -o $(MKDB) ./mkdb

# The demo: the example's feature, PR and release pipelines through production, on a local
# registry and cluster (examples/demo.sh says what it does and cleans up after itself).
demo: build tools k8s-cluster
	FERRY=$(FERRY) K8S_LAB=$(K8S_LAB) examples/demo.sh

# Release files in dist/: reproducible binaries for every platform, SBOMs, checksums.txt.
# A snapshot for trying it: make release VERSION=v0.0.0-snapshot PLATFORMS=linux/amd64
release:
	VERSION=$(VERSION) GO=$(GO) internal/release/build.sh

# The CLI and ferry.yaml references in docs/, written by the commands and the config model
# themselves; TestReferenceDocsAreCurrent fails when the committed ones are stale.
docs:
	$(GO) run ./cmd/ferry docs --dir docs

clean:
	rm -rf $(BIN) dist
