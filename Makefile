# flant-integration — thin wrappers over cargo. `make test` installs what the tests need.
SHELL := /bin/bash
CARGO ?= cargo
# Debian packages the tests use: jq (cross-checks every jqFilter), prometheus (PromQL tests).
# PyPI packages: pytest and helm-python-sdk (Helm's own Go engine) for the template tests.
PYTHON ?= python3
PIP_PACKAGES := pytest pyyaml helm-python-sdk==0.2.2
# PyPI packages live in a virtual environment under the build folder, never in the system Python.
VENV := target/venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all demo test deps lint fmt fmt-check bench build clean harness static install prometheus-agent

# The Go test harness: shell-operator's and addon-operator's own packages (tools/operators).
# Go caches the modules and the build; a warm run is a no-op link check.
HARNESS := target/operators/operator-harness
GO ?= go

all: build

build:
	$(CARGO) build --release --workspace --bins

## demo: the bundled demo cluster's bill (every node, its billing type and the rule that decided
## it), then its preview: exactly the samples the metrics agent would send, the Madison
## registration that would be posted and the logs that would be shipped. Needs only the Rust build
## (the hooks' jq filters are evaluated in process).
DEMO_PREVIEW := --env docs/demo/env.yaml --values docs/demo/module/values.yaml --config-values docs/demo/module/config-values.yaml
demo:
	@$(CARGO) build --quiet --workspace --bins
	@echo "# flant-integration bill docs/demo/ — what the demo cluster is billed, and why" >&2
	@target/debug/flant-integration bill docs/demo/
	@echo
	@echo "# flant-integration preview docs/demo/ — exactly what would leave the cluster" >&2
	@target/debug/flant-integration preview $(DEMO_PREVIEW) docs/demo/

## test: everything — formatting, clippy, doc tests, Helm template tests, then unit, golden
## fixture and real-server tests (cargo-nextest when present: its summary line closes the run).
test: deps fmt-check lint harness
	$(CARGO) test --workspace --doc
	$(PY) -m pytest -q tests/templates
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --lib --bins --tests --no-fail-fast --test-threads 4; \
	else \
		$(CARGO) test --workspace --lib --bins --tests --no-fail-fast; \
	fi

## static: every hook and madison-proxy as fully static x86_64 Linux executables (glibc,
## crt-static, no ELF interpreter) in $(STATIC_DIR) — what the images ship. The explicit
## --target keeps crt-static away from build scripts and proc-macros. getrandom 0.3/0.4 finds
## glibc's getrandom() by dlsym, which a static binary cannot do; it would then read /dev/urandom,
## absent from Deckhouse's hook chroot ("could not initialize ThreadRng"), so its backend is set
## to the getrandom(2) call. See docs/internal/decisions.md, "Installable module".
STATIC_TARGET := x86_64-unknown-linux-gnu
STATIC_DIR := target/$(STATIC_TARGET)/release
STATIC_RUSTFLAGS := -C target-feature=+crt-static --cfg getrandom_backend="linux_getrandom"
static:
	RUSTFLAGS='$(STATIC_RUSTFLAGS)' $(CARGO) build --release --locked --target $(STATIC_TARGET) --bins
# tests/chroot.rs runs these in a Deckhouse-like chroot (it calls `make static` itself too).
test: static

## install: the CLI as users install it, from `make static` (no shared library but the kernel's):
## flant-integration and the hook binaries `preview` runs beside it in
## $(PREFIX)/libexec/flant-integration/ (their generic names stay off PATH), and in $(PREFIX)/bin
## the links `flant-integration` and `kubectl-flant_integration` (so `kubectl flant-integration
## bill` works: kubectl runs any `kubectl-*` on PATH, `_` for `-`). The CLI finds the hooks beside
## its resolved executable. DESTDIR is honoured. Without make: `cargo install --path . --bins`
## installs every binary into ~/.cargo/bin (then `ln -s flant-integration ~/.cargo/bin/kubectl-flant_integration`).
PREFIX ?= /usr/local
CLI_HOOKS := cluster-metrics ingress-controller-metrics node-group-metrics node-group-resources-metrics \
	node-metrics controller-metrics prometheus-metrics madison-registration license
install: static
	install -d $(DESTDIR)$(PREFIX)/libexec/flant-integration $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(addprefix $(STATIC_DIR)/,flant-integration $(CLI_HOOKS)) $(DESTDIR)$(PREFIX)/libexec/flant-integration/
	ln -sf ../libexec/flant-integration/flant-integration $(DESTDIR)$(PREFIX)/bin/flant-integration
	ln -sf ../libexec/flant-integration/flant-integration $(DESTDIR)$(PREFIX)/bin/kubectl-flant_integration

## harness: build the operator harness (tools/operators) from the Go module proxy, cached.
harness:
	@mkdir -p target/operators
	cd tools/operators && GOFLAGS=-mod=readonly $(GO) build -o ../../$(HARNESS) .

## prometheus-agent: the metrics agent at the version Deckhouse's image builds (Prometheus v2.55.1,
## tools/prometheus-agent/README.md), from the Go module proxy, cached; tests/datapath.rs runs it.
PROMETHEUS_AGENT := target/prometheus-agent/prometheus
prometheus-agent:
	@mkdir -p $(dir $(PROMETHEUS_AGENT))
	cd tools/prometheus-agent && CGO_ENABLED=0 GOFLAGS=-mod=readonly $(GO) build -trimpath -ldflags "-s -w" \
		-o ../../$(PROMETHEUS_AGENT) github.com/prometheus/prometheus/cmd/prometheus
test: prometheus-agent
bench: prometheus-agent

## addon-operator: the real addon-operator v1.24.4 (tools/addon-operator/go.mod, its own module with
## the module-proxy `replace` lines), from the Go module proxy, cached by Go; tests/operator_cluster.rs
## runs it against the real control plane. CGO off (static, as the chroot needs nothing else).
ADDON_OPERATOR := target/addon-operator/addon-operator
.PHONY: addon-operator
addon-operator:
	@mkdir -p $(dir $(ADDON_OPERATOR))
	cd tools/addon-operator && CGO_ENABLED=0 GOFLAGS=-mod=readonly $(GO) build -trimpath \
		-ldflags "-s -w -X github.com/flant/addon-operator/pkg/app.Version=v1.24.4" \
		-o ../../$(ADDON_OPERATOR) github.com/flant/addon-operator/cmd/addon-operator
test: addon-operator

## kube: the control plane the cluster tests (tests/cluster.rs) start — kube-apiserver,
## kube-controller-manager and kubectl from k8s.io/kubernetes v1.36.3 (tools/kube/go.mod, every
## staging module replaced by its published v0.36.3) and etcd v3.6.16 (tools/kube/etcd/go.mod, a
## module of its own so that etcd keeps its own dependency versions) — from the Go module proxy,
## cached by Go. The version variables are what the release build stamps; without them the server
## reports v0.0.0 and kubectl cannot parse it.
KUBE_DIR := target/kube
KUBE_VERSION_PKG := k8s.io/component-base/version
KUBE_LDFLAGS := -s -w -X $(KUBE_VERSION_PKG).gitVersion=v1.36.3 -X $(KUBE_VERSION_PKG).gitMajor=1 \
	-X $(KUBE_VERSION_PKG).gitMinor=36 -X $(KUBE_VERSION_PKG).gitTreeState=clean
.PHONY: kube
kube:
	@mkdir -p $(KUBE_DIR)
	cd tools/kube/etcd && CGO_ENABLED=0 GOFLAGS=-mod=readonly $(GO) build -trimpath -ldflags "-s -w" \
		-o ../../../$(KUBE_DIR)/etcd go.etcd.io/etcd/server/v3
	cd tools/kube && CGO_ENABLED=0 GOFLAGS=-mod=readonly $(GO) build -trimpath -ldflags "$(KUBE_LDFLAGS)" \
		-o ../../$(KUBE_DIR)/ k8s.io/kubernetes/cmd/kube-apiserver \
		k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl
test: kube

## deps: install the Debian packages the tests use when they are missing.
deps:
	@missing=""; \
	command -v jq >/dev/null || missing="$$missing jq"; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	command -v $(GO) >/dev/null || missing="$$missing golang-go"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing" >&2; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV) 2>/dev/null || { \
		echo "installing: python3-venv" >&2; rm -rf $(VENV); \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends python3-venv >/dev/null; \
		$(PYTHON) -m venv $(VENV); }
	@$(PY) -c "import pytest, yaml, helm_python" 2>/dev/null || { \
		echo "installing into $(VENV): $(PIP_PACKAGES)" >&2; \
		$(PY) -m pip install --quiet --disable-pip-version-check $(PIP_PACKAGES); }

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

## markdownlint: the docs judged by the markdownlint engine and settings of Deckhouse's module
## linter (dmt v0.1.105: go-markdownlint v0.0.2, its overrides in tools/markdownlint/config.yaml),
## built from the Go module proxy, cached. dmt lints docs/*.md but README.md; this lints all of them.
MARKDOWNLINT := target/markdownlint/markdownlint
.PHONY: markdownlint
markdownlint:
	@mkdir -p $(dir $(MARKDOWNLINT))
	cd tools/markdownlint && GOFLAGS=-mod=readonly $(GO) build -o ../../$(MARKDOWNLINT) github.com/ldmonster/go-markdownlint/cmd/markdownlint
	$(MARKDOWNLINT) --config tools/markdownlint/config.yaml $(wildcard docs/*.md docs/internal/*.md)
test: markdownlint

## bench: end-to-end benchmarks of the release binaries; rewrites BENCHMARKS.md (benches/cli.rs
## then replaces its own section, `flant-integration bill and preview`, and benches/proxy.rs its
## `madison-proxy against nginx`, which needs nginx and wrk from Debian). The data-path
## section runs the operator harness and renders the agent with the template tests' venv.
bench: deps bench-deps harness
	$(CARGO) bench --bench hooks -- $(CURDIR)/BENCHMARKS.md
	$(CARGO) bench --bench cli -- $(CURDIR)/BENCHMARKS.md
	$(CARGO) bench --bench proxy -- $(CURDIR)/BENCHMARKS.md
	$(CARGO) bench --bench footprint -- $(CURDIR)/BENCHMARKS.md
## bench-deps: the peers `make bench` measures against, from Debian when missing: nginx (madison-proxy's
## peer and the backend of both), wrk (the load), jq (the CLI's peer). Python's `json.load`, the hooks'
## peer, is the python3 the venv is made from. The bench never uses a server the nginx package may
## start itself: it runs its own nginx processes on loopback ports with their own configuration.
.PHONY: bench-deps
bench-deps:
	@missing=""; \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	command -v jq >/dev/null || missing="$$missing jq"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing" >&2; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
# benches/footprint.rs runs the pricing pod on the control plane, from the unpacked image.
bench: kube image-deps image

clean:
	$(CARGO) clean

## fuzz: the cargo-fuzz targets in fuzz/ (its own workspace), FUZZ_SECONDS each, with nightly Rust:
## Prometheus answers, the provider cluster configuration YAML, the registry docker config. New
## inputs go to fuzz/corpus/ and logs and crashes to fuzz/artifacts/ (both ignored); fuzz/seeds/ is
## the kept corpus. fuzz-smoke: the same for FUZZ_SMOKE_SECONDS each, inside `make test`, when
## nightly Rust is there; without it the stable fuzz properties of tests/hardening.rs (always run)
## are the bounded run.
FUZZ_TARGETS := prometheus_answer provider_yaml docker_config binding_context values fp_env
FUZZ_SECONDS ?= 300
FUZZ_SMOKE_SECONDS ?= 5
.PHONY: fuzz fuzz-smoke
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install --locked cargo-fuzz
	@cd fuzz && for t in $(FUZZ_TARGETS); do \
		mkdir -p corpus/$$t artifacts; \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s (log: fuzz/artifacts/$$t.log)" >&2; \
		$(CARGO) +nightly fuzz run $$t corpus/$$t seeds/$$t -- -max_total_time=$(FUZZ_SECONDS) \
			-rss_limit_mb=2048 -max_len=65536 > artifacts/$$t.log 2>&1 \
			|| { tail -n 40 artifacts/$$t.log >&2; exit 1; }; \
		tail -n 1 artifacts/$$t.log >&2; \
	done
fuzz-smoke:
	@if $(CARGO) +nightly --version >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS); \
	else \
		echo "fuzz-smoke: no nightly Rust; the stable fuzz properties in tests/hardening.rs stand in" >&2; \
	fi
test: fuzz-smoke

## image: the module's images, built from their Dockerfiles (images/<name>/Dockerfile: madison-proxy,
## pricing; .werf/bundle and .werf/release: the bundle and the release image) by buildah without a
## daemon, as OCI layouts under dist/oci/ and dist/oci/images.json (name -> tag and digest); the
## same inputs give the same digests. Inputs: the static binaries ($(IMAGE_BINS)), shell-operator
## built from its Go module (tools/pricing-image), the module files. tools/images/build.sh does the
## work; see README.md, "Publishing".
## image-context: only the component images' build contexts (target/images/context/<name>/), for
## `docker build -f images/<name>/Dockerfile target/images/context/<name>` or werf.
## publish: push them to REGISTRY (host[:port]/path) with skopeo — components by digest, the
## bundle and the release image by VERSION, the release image also by every channel in CHANNELS —
## and print the ModuleSource to apply. INSECURE=1 for plain HTTP; REGISTRY_USER/REGISTRY_PASSWORD
## if needed (the password goes to skopeo in a private auth file, never to a command line).
VERSION ?= $(or $(shell sed -n 's/.*"version" *: *"\([^"]*\)".*/\1/p' version.json 2>/dev/null),v0.1.0)
CHANNELS ?= alpha
# The static binaries come from `make static` (its STATIC_DIR).
IMAGE_BINS ?= $(or $(STATIC_DIR),target/x86_64-unknown-linux-gnu/release)
OCI_DIR ?= dist/oci
# Build contexts and buildah's store (vfs, recreated per build, locked); tests pass their own.
IMAGE_WORK ?= target/images
MODULE_DIR ?= .
# Every file's time and the configs' `created` (seconds since the epoch).
SOURCE_DATE_EPOCH ?= 0
SHELL_OPERATOR := target/pricing-image/shell-operator
IMAGE_ENV = MODULE_DIR='$(MODULE_DIR)' BINS='$(IMAGE_BINS)' SHELL_OPERATOR='$(SHELL_OPERATOR)' VERSION='$(VERSION)' \
	OCI_DIR='$(OCI_DIR)' IMAGE_WORK='$(IMAGE_WORK)' SOURCE_DATE_EPOCH='$(SOURCE_DATE_EPOCH)'
.PHONY: image image-context publish publish-check shell-operator

# CGO off (shell-operator v1.20.2 evaluates jq with gojq, no libjq), trimmed paths, no build id
# or VCS stamp: the same Go toolchain gives the same binary. GOTOOLCHAIN=local never downloads one.
shell-operator:
	@mkdir -p $(dir $(SHELL_OPERATOR))
	@cd tools/pricing-image && v=$$(GOTOOLCHAIN=local $(GO) list -m -f '{{.Version}}' github.com/flant/shell-operator) && \
	CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=readonly $(GO) build -trimpath -buildvcs=false \
		-ldflags "-s -w -buildid= -X github.com/flant/shell-operator/pkg/app.Version=$$v" \
		-o ../../$(SHELL_OPERATOR) github.com/flant/shell-operator/cmd/shell-operator

# IMAGE_PREREQS: what `image` builds first (override to package binaries built elsewhere).
IMAGE_PREREQS ?= $(if $(STATIC_DIR),static) shell-operator image-tools
image: $(IMAGE_PREREQS)
	@$(IMAGE_ENV) tools/images/build.sh

image-context: $(IMAGE_PREREQS)
	@$(IMAGE_ENV) CONTEXT_ONLY=1 tools/images/build.sh

publish-check:
	@[ -n "$(REGISTRY)" ] || { echo "usage: make publish REGISTRY=host[:port]/path VERSION=vX.Y.Z [INSECURE=1] [CHANNELS='alpha beta']" >&2; exit 2; }

publish: publish-check image
	@REGISTRY='$(REGISTRY)' VERSION='$(VERSION)' CHANNELS='$(CHANNELS)' INSECURE='$(INSECURE)' OCI_DIR='$(OCI_DIR)' \
		tools/images/publish.sh

# image-tools: what builds and pushes the images — buildah (its vfs driver needs no daemon and no
# mounts), skopeo, jq. image-deps: those and the test peers of tests/images.rs, which judge the
# images with tools that share no code with the build: a registry (docker-registry), a client
# that pulls (skopeo) and one that unpacks (umoci). `make test` builds the images first, so the
# test's own `make image` is warm.
.PHONY: image-tools image-deps
IMAGE_TOOLS := buildah skopeo jq
image-tools image-deps:
	@missing=""; \
	for p in $(IMAGE_TOOLS) $(if $(filter image-deps,$@),umoci docker-registry); do \
		command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing" >&2; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
test: image-deps image
