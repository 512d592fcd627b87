//! Dev-only helpers shared by the integration tests, the benchmarks and the demo.
//!
//! * [`operator`]: the demo's binding contexts from Kubernetes objects with the real `jq`; its
//!   snapshots are proven equal to shell-operator's own generator by `tests/demo.rs`;
//! * [`exposition`]: renders metrics files as Prometheus text; proven equal to shell-operator's
//!   `/metrics/hooks` on every pricing fixture by `tests/golden.rs`;
//! * [`http`]: real HTTP servers on 127.0.0.1, stopped on drop;
//! * [`prometheus`]: a real Prometheus (Debian package) on backfilled fixture data;
//! * [`front`]: a fault-injecting, recording front for Prometheus;
//! * [`tls`]: a throwaway CA and server certificates;
//! * [`dns`]: an authoritative DNS server on loopback;
//! * [`fake`]: a recording fake HTTP(S) server (Connect, Madison);
//! * [`demo`]: the `make demo` pipeline.

pub mod demo;
pub mod dns;
pub mod exposition;
pub mod fake;
pub mod front;
pub mod http;
pub mod operator;
pub mod prometheus;
pub mod tls;

/// Installs the ring provider for rustls servers in tests (idempotent).
pub fn tls_server_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
