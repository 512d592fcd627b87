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
//! # Secrets
//! The auth key lives in a [`secret_log::Secret`]; access lines show
//! `/api/events/prometheus/<redacted>` and errors are built from the transport's causes, never
//! from the upstream URL.
//!
//! ```no_run
//! # async fn demo() -> Result<(), String> {
//! let config = madison_proxy::Config::from_env().map_err(|e| e.to_string())?;
//! let log = secret_log::Logger::from_env();
//! let state = madison_proxy::state(&config, log)?;
//! let router = madison_proxy::app(state);
//! # Ok(()) }
//! ```

mod config;
mod proxy;

pub use config::{env, Backend, Config, ConfigError, Scheme};
pub use proxy::{
    app, state, AppState, BODY_LIMIT, CONNECT_TIMEOUT, EXCHANGE_TIMEOUT, HEADERS_TIMEOUT, IDLE_TIMEOUT,
    LOGGED_BODY_LIMIT, REDACTED_UPSTREAM,
};
