//! madison-proxy: an Alertmanager-compatible endpoint that forwards Prometheus (and Grafana) alert
//! pushes to one Madison backend (`madison-proxy.md`).
//!
//! # Routes
//! `/healthz` answered locally; `/readyz` mapped to the backend's `/healthz`; `POST
//! /api/v1/alerts` and `/api/v2/alerts` forwarded to `/api/events/prometheus/<key>`; other
//! methods 404 and other paths 502 without contacting the backend.
//!
//! # Connection
//! TCP to `MADISON_BACKEND`, TLS with SNI and certificate name `MADISON_HOST` (verified unless
//! `MADISON_INSECURE_SKIP_VERIFY=true`), HTTP/1.1 only, no retries, 1 MiB body limit.
//!
//! # Threads
//! [`serve`] runs one single-threaded tokio runtime per core (`TOKIO_WORKER_THREADS` to choose),
//! each with its own [`AppState`] and pool of backend connections; the calling thread accepts
//! under the connection cap and hands each connection to the least busy worker. A request, its
//! client connection and its backend connection stay on one thread (nginx's model), which
//! removed the cross-thread wake-ups of the work-stealing runtime (`docs/internal/decisions.md`,
//! "Performance: madison-proxy").
//!
//! # Limits
//! Every number is a field of [`Limits`] with a variable in [`env`] (durations as `300ms`, `10s`,
//! `2m`), so fault tests run in milliseconds; the defaults are the spec's.
//!
//! * **Backend answers** are read up to [`Limits::answer_limit`], 64 KiB by default, frame by
//!   frame (`http_body_util::Limited`; a larger `Content-Length` is refused before reading).
//!   Past it the client gets 502 and the access line says `answer body larger than … bytes`.
//!   Why 64 KiB: what comes back is tiny — Alertmanager answers an accepted push with an empty
//!   200 and a rejected one with a one-line JSON error, Madison with a short JSON object, a load
//!   balancer's or proxy's error page is a few KiB of HTML — and Prometheus only looks at the
//!   status (its notifier discards the body). 64 KiB is over ten times the largest of those.
//! * **Clients**: request line and headers within [`Limits::client_header_timeout`] (10 s; hyper
//!   closes the connection, and the same timeout closes idle keep-alive connections), the body
//!   within [`Limits::client_body_timeout`] (10 s, then 408 and the connection closed) — as long
//!   as Prometheus waits for an Alertmanager by default (`timeout: 10s`), so a slower client is
//!   not one that is still waiting.
//! * **Connections**: at most [`Limits::max_connections`] (32) served at once; further ones wait
//!   in the listen backlog until a slot frees, which the client timeouts guarantee.
//! * **Memory**, measured (`tests/proxy/faults.rs`,
//!   `the_connection_cap_bounds_memory_at_the_worst_case`: 8 connections at once under
//!   `prlimit --as`, peak `VmHWM`): about 9 MiB at rest, and per connection at its worst — headers
//!   filling hyper's ~408 KiB read buffer both ways, a 1 MiB body of control bytes and a 64 KiB
//!   answer — 2.6–2.8 MiB (the test's bound: 3 MiB). That is the 1 MiB body, the request and
//!   answer headers (~370 KiB each), the answer (64 KiB, copied once more for the client) and
//!   the access line being built: the logged 64 KiB is copied into the line's JSON value and
//!   escaped, and escaping can make it six times longer (`\u0001`), ~384 KiB, before the line
//!   is found over its 256 KiB limit and replaced by the short `truncated` form. With ordinary
//!   headers a connection costs about 1.9 MiB. The cap is 32 so that a cap's worth of connections
//!   at their worst stays under the Deployment's VPA ceiling (100 MiB): ≈ 32 × 2.75 + 9 ≈ 97 MiB
//!   (≈ 70 MiB with ordinary headers); at 48 it was ≈ 140 MiB.
//!   Real traffic (two Prometheus replicas, Grafana, probes) holds a handful of connections.
//! * **Variables are bounded**: durations at most [`MAX_DURATION`] (1 h; a value near `u64::MAX`
//!   seconds would overflow `Instant + duration` inside hyper on every connection),
//!   [`MAX_CONNECTIONS_LIMIT`] (1024) connections, [`MAX_ANSWER_LIMIT`] (1 MiB) of answer; 0 or
//!   more is refused at start-up like any invalid value (one JSON line, exit 1).
//! * **Shutdown** ([`serve`]): connections without a request in progress close at once, bodies
//!   still arriving get 503, complete requests drain for up to [`Limits::shutdown_timeout`] (30 s).
//!
//! # Secrets
//! The auth key lives in a [`secret_log::Secret`]; access lines show
//! `/api/events/prometheus/<redacted>` and errors are built from the transport's causes, never
//! from the upstream URL. Client paths are logged percent-decoded with the key redacted in every
//! spelling (see the crate README, "Logs").
//!
//! ```no_run
//! # async fn demo() -> Result<(), String> {
//! let config = madison_proxy::Config::from_env().map_err(|e| e.to_string())?;
//! let log = secret_log::Logger::from_env();
//! let _state = madison_proxy::state(&config, log)?;
//! // Each request of a client connection: `madison_proxy::handle(&state, request, remote).await`.
//! # Ok(()) }
//! ```

mod config;
mod proxy;
mod server;
mod upstream;

pub use config::{
    env, human, Backend, Config, ConfigError, Limits, Scheme, MAX_ANSWER_LIMIT, MAX_CONNECTIONS_LIMIT, MAX_DURATION,
};
pub use proxy::{handle, state, AppState, Request, Response, BODY_LIMIT, LOGGED_BODY_LIMIT, REDACTED_UPSTREAM};
pub use server::{serve, Shutdown};
