//! The madison-proxy binary: reads its environment, listens, forwards, shuts down gracefully.
//!
//! Usage: `madison-proxy` (configuration from the environment: `madison_proxy::env`, the crate
//! README); `--help` and `--version` print to stdout.
//! On SIGTERM or SIGINT it stops accepting, closes connections without a complete request, lets
//! complete in-flight requests finish for up to `SHUTDOWN_TIMEOUT` (30 s), and exits 0. Any
//! start-up failure is one JSON error line on stderr and exit code 1.

use std::io::Write as _;
use std::process::ExitCode;

use secret_log::{Limits, Logger};
use serde_json::json;

const USAGE: &str = "madison-proxy: forwards Alertmanager pushes to one Madison backend.

Usage: madison-proxy

Environment:
  MADISON_BACKEND               backend host:port to dial (required)
  MADISON_AUTH_KEY              the project's Madison key (required)
  MADISON_HOST                  Host, TLS SNI and certificate name (default madison.flant.com)
  MADISON_SCHEME                https (default) or http
  MADISON_INSECURE_SKIP_VERIFY  true disables certificate verification
  MADISON_CA_FILE               PEM CA file trusted besides the compiled-in Mozilla roots
  LISTEN_HOST, LISTEN_PORT      listen address (default 0.0.0.0:8080)
  LOG_LEVEL                     debug, info (default), warn, error

Limits (durations as 300ms, 10s or 2m):
  MADISON_CONNECT_TIMEOUT       connect and TLS handshake to the backend (default 5s)
  MADISON_RESPONSE_TIMEOUT      the backend's response headers (default 10s)
  MADISON_EXCHANGE_TIMEOUT      the whole backend exchange (default 30s)
  MADISON_IDLE_TIMEOUT          idle backend connections closed after (default 90s)
  MADISON_ANSWER_LIMIT          largest backend answer body in bytes, else 502 (default 65536)
  CLIENT_HEADER_TIMEOUT         a client's request line and headers; idle keep-alive (default 10s)
  CLIENT_BODY_TIMEOUT           a client's body once its headers are in, else 408 (default 10s)
  MAX_CONNECTIONS               client connections served at once; more wait (default 32)
  SHUTDOWN_TIMEOUT              drain time for complete requests after SIGTERM (default 30s)
";

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Worker threads: `TOKIO_WORKER_THREADS` (tokio's own variable, which the fault tests set to fix
/// the address space), else one per core.
fn workers() -> usize {
    std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| (1..=64).contains(n))
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
}

fn serve(log: Logger) -> Result<(), String> {
    let config = madison_proxy::Config::from_env().map_err(|e| e.to_string())?;
    if !config.tls_verify && config.scheme == madison_proxy::Scheme::Https {
        log.warn("TLS certificate verification of the backend is disabled (MADISON_INSECURE_SKIP_VERIFY)", &[]);
    }
    let listener =
        std::net::TcpListener::bind(config.listen).map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let listen = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let workers = workers();
    let started = madison_proxy::serve(listener, &config, log, workers, async {
        log.info(
            "listening",
            &[
                ("listen", json!(listen)),
                ("backend", json!(config.backend.to_string())),
                ("host", json!(config.host)),
                ("scheme", json!(config.scheme.as_str())),
                ("tls_verify", json!(config.tls_verify)),
                ("workers", json!(workers)),
            ],
        );
        shutdown_signal().await;
    });
    // Both endings exit 0: the deadline's warning line is logged by `serve`.
    started.map(|_| ())
}

fn main() -> ExitCode {
    // Access lines carry up to LOGGED_BODY_LIMIT of request body (madison-proxy.md). JSON escaping
    // makes it up to six times longer (`\u0001` per control byte); the line limit holds twice that
    // and the other fields, and a longer line is replaced by its short `truncated` form.
    let log = Logger::from_env().with_limits(Limits {
        max_string: madison_proxy::LOGGED_BODY_LIMIT,
        max_line: 4 * madison_proxy::LOGGED_BODY_LIMIT,
    });
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None => {}
        Some("--help" | "-h") if args.len() == 1 => {
            let _ = std::io::stdout().write_all(USAGE.as_bytes());
            return ExitCode::SUCCESS;
        }
        Some("--version" | "-V") if args.len() == 1 => {
            let _ = writeln!(std::io::stdout(), "madison-proxy {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            log.error(&format!("invalid arguments: unexpected argument {other:?} (see --help)"), &[]);
            return ExitCode::FAILURE;
        }
    }
    match serve(log) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log.error(&e, &[]);
            ExitCode::FAILURE
        }
    }
}
