//! The one integration-test binary: every hook binary run as the operators run it.

// Test data helpers convert small known numbers between f64 and integers.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::type_complexity,
    clippy::needless_pass_by_value
)]

// Shared helpers: hook table, fixture runner, record rendering.
mod common;
// The operator harness client: shell-operator's and addon-operator's own code as test peers.
mod harness;
// Golden binding-context fixtures of every hook, snapshotted with insta.
mod golden;
// `--config` of every hook parses strictly and equals its config.yaml; jq filters checked with real jq.
mod config;
// Bad arguments, missing env vars, unreadable inputs: exit 1, one JSON error line, nothing written.
mod bad_input;
// prometheus-metrics against a real Prometheus: terraform cases, usage, faults, TLS, token.
mod prometheus;
// controller-metrics against a real Prometheus.
mod controllers;
// The OpenAPI schemas: the spec's cases, validated and defaulted by addon-operator's own code.
mod openapi;
// Madison hooks against a recording Connect fake and a real DNS server on loopback.
mod madison;
// madison-proxy, the binary: routes, limits, TLS, shutdown, and Prometheus → proxy → Madison.
mod proxy;
// A bounded load-and-fault check of madison-proxy: nothing lost, nothing duplicated.
mod load;
// Prometheus rules: promtool check and unit tests.
mod rules;
// The static executables in a Deckhouse-like chroot: no ELF interpreter, every module hook's
// fixtures through addon-operator chrooted, Connect over TLS, DNS by the cluster address, the proxy.
mod chroot;
// The images: make publish into a real registry, pulled back with skopeo, unpacked with umoci, run.
mod images;
// flant-integration bill: golden outputs, totals equal node-metrics, jaq against jq and the generator.
mod cli;
// The demo pipeline (jq-built binding contexts → hooks → exposition) gives the expected bill.
mod demo;
// Hardening: bounded answers, no redirects, linear costs, null sections (issue 10).
mod hardening;
// The planted-secret scan: a marker in every secret-bearing input, searched for in every output (issue 10).
mod secrets;
// The billing data path on loopback: hooks → /metrics/hooks → the rendered agent → receiver (issue 12).
mod datapath;
// A real API server (etcd, kube-apiserver, kube-controller-manager): strict validation of every
// rendered object, the pricing pod from its image against it (issue 18).
mod cluster;
// bill and preview in live mode against the real API server: the same output as from a dump.
mod live;
// The module installed by the real addon-operator from the unpacked bundle into a real control plane (issue 18).
mod operator_cluster;
