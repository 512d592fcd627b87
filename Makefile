# flant-integration — thin wrappers over cargo. `make test` installs what the tests need.
SHELL := /bin/bash
CARGO ?= cargo
# Debian packages the tests use: jq (cross-checks every jqFilter), prometheus (PromQL tests).
DEB_PACKAGES := jq prometheus
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all demo test deps lint fmt fmt-check bench build clean

all: build

build:
	$(CARGO) build --release --workspace --bins

## demo: run the hooks on the bundled demo cluster and print their metrics as Prometheus text.
demo: deps
	@$(CARGO) build --quiet --release --workspace --bins
	@echo "# flant-integration demo: docs/demo/cluster.yaml through the pricing hooks" >&2
	@target/release/demo target/release

## test: everything — unit, golden fixtures, real-Prometheus/HTTP/DNS tests, lint.
test: deps fmt-check
	$(CARGO) test --workspace --all-targets --no-fail-fast
	$(MAKE) --no-print-directory lint

## deps: install the Debian packages the tests use when they are missing.
deps:
	@missing=""; \
	command -v jq >/dev/null || missing="$$missing jq"; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing" >&2; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

## bench: end-to-end benchmarks of the release binaries; rewrites BENCHMARKS.md.
bench: deps
	$(CARGO) bench --bench hooks -- $(CURDIR)/BENCHMARKS.md

clean:
	$(CARGO) clean
