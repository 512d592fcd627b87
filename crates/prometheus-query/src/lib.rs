//! PromQL instant queries for the pricing hooks (`pricing-hooks.md` §2, decisions 4 and 24).
//!
//! * Configuration from `PROMETHEUS_URL`, `PROMETHEUS_TOKEN_FILE`, `PROMETHEUS_CA_FILE`,
//!   `PROMETHEUS_INSECURE_SKIP_VERIFY`, read at the start of each run ([`Config::from_env`]).
//! * TLS verified against the CA file by default; the opt-out is explicit and logged.
//! * The bearer token is re-read every run and held in a [`Secret`]: no error or log line can
//!   carry it.
//! * Each attempt has a 10 s timeout; connection errors, timeouts and 5xx are retried up to three
//!   attempts with 0.5 s and 1 s backoff; nothing else is retried.
//! * [`Client::query_all`] runs a run's queries concurrently (at most 8 in flight) under the run's
//!   240 s deadline (counted from [`Client::new`]) and returns results in the order asked,
//!   whatever the completion order; a query not started by the deadline is never sent.
//! * Every answer is read through a [`MAX_BODY_BYTES`] cap (a `Content-Length` above it is refused
//!   before reading): a server that streams an endless body costs one bounded buffer, and that
//!   query fails with [`Cause::BodyTooLarge`].
//! * Redirects are never followed (the bearer token would be re-sent to the new address): a 3xx
//!   fails the query with [`Cause::Redirect`].
//! * Error text is built from our own words and typed parts: the URL without user information,
//!   HTTP codes, Prometheus's own `errorType`/`error`; never the token.
//!
//! ```no_run
//! # async fn demo(log: secret_log::Logger) {
//! let client = prometheus_query::Client::new(&prometheus_query::Config::from_env(), log);
//! let results = client.query_all(&["sum(kube_node_info) by (os_image)"]).await;
//! # }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
pub use client::Client;

/// `PROMETHEUS_URL`.
pub const ENV_URL: &str = "PROMETHEUS_URL";
/// `PROMETHEUS_TOKEN_FILE`.
pub const ENV_TOKEN_FILE: &str = "PROMETHEUS_TOKEN_FILE";
/// `PROMETHEUS_CA_FILE`.
pub const ENV_CA_FILE: &str = "PROMETHEUS_CA_FILE";
/// `PROMETHEUS_INSECURE_SKIP_VERIFY`.
pub const ENV_INSECURE: &str = "PROMETHEUS_INSECURE_SKIP_VERIFY";
/// Default base URL.
pub const DEFAULT_URL: &str = "https://prometheus.d8-monitoring:9090";
/// Default token file (the service-account token).
pub const DEFAULT_TOKEN_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
/// Default CA file (the service-account CA).
pub const DEFAULT_CA_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";

/// Timeout of one attempt (connect, TLS, headers and body).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts per query.
pub const ATTEMPTS: u32 = 3;
/// Backoff before attempt 2 and 3.
pub const BACKOFF: [Duration; 2] = [Duration::from_millis(500), Duration::from_secs(1)];
/// Queries in flight at once.
pub const MAX_IN_FLIGHT: usize = 8;
/// Overall deadline of one run's queries.
pub const RUN_DEADLINE: Duration = Duration::from_secs(240);
/// The largest answer body read, in bytes (8 MiB).
///
/// Sized from real answers: the largest answer any hook asks for is one sample per node
/// (`max(candi_converge_node_status) by (name,node_group,status) == 1`, and the per-OS-image and
/// per-runtime counts are smaller). A real Prometheus answers that query with ~100 bytes per
/// sample for short names and at most ~250 bytes with 63-character node and group names
/// (`tests/hardening.rs` measures it). 8 MiB holds ~33 000 such worst-case samples: more than three
/// times the largest cluster Deckhouse supports (10 000 nodes) at the longest names. With 8 queries
/// in flight, the buffers of one run stay under 64 MiB whatever a server sends.
pub const MAX_BODY_BYTES: usize = 8 << 20;

/// Client settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Base URL without a trailing `/`.
    pub url: String,
    /// Bearer token file.
    pub token_file: PathBuf,
    /// PEM trust anchors for `https`.
    pub ca_file: PathBuf,
    /// Skip certificate and host name verification.
    pub insecure_skip_verify: bool,
}

impl Config {
    /// Reads the four variables from the process environment, applying the defaults.
    #[must_use]
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the four variables from `get` (a hook's `Input::env`, or a map in tests).
    #[must_use]
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let var = |k: &str, d: &str| get(k).filter(|v| !v.is_empty()).unwrap_or_else(|| d.to_string());
        Self {
            url: var(ENV_URL, DEFAULT_URL).trim_end_matches('/').to_string(),
            token_file: PathBuf::from(var(ENV_TOKEN_FILE, DEFAULT_TOKEN_FILE)),
            ca_file: PathBuf::from(var(ENV_CA_FILE, DEFAULT_CA_FILE)),
            insecure_skip_verify: get(ENV_INSECURE).is_some_and(|v| v.eq_ignore_ascii_case("true")),
        }
    }
}

/// One sample of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Series labels.
    pub labels: BTreeMap<String, String>,
    /// A finite value.
    pub value: f64,
}

impl Sample {
    /// A label value, `""` when absent.
    #[must_use]
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }
}

/// Why a query failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// A status other than 200 (after retries for 5xx).
    Http(u16),
    /// Prometheus answered `status: "error"`.
    PrometheusError(String),
    /// The body is not the JSON Prometheus sends.
    NotJson,
    /// The result is not an instant vector.
    NotVector(String),
    /// Every attempt timed out.
    TimedOut {
        /// Attempts made.
        attempts: u32,
    },
    /// The server certificate was rejected.
    CertificateVerifyFailed(String),
    /// Connecting (or reading the response) failed on every attempt.
    Connect {
        /// The transport error.
        detail: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The TLS configuration could not be built (CA file unreadable, ...).
    TlsSetup(String),
    /// The run's 240 s deadline passed first.
    DeadlineExceeded,
    /// The answer body is larger than [`MAX_BODY_BYTES`] (not retried: the next answer would be
    /// as large).
    BodyTooLarge,
    /// The server answered with a redirect (3xx), which is never followed: it would re-send the
    /// bearer token to another address.
    Redirect(u16),
}

impl Cause {
    /// Whether another attempt may succeed.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Cause::Http(code) => *code >= 500,
            Cause::TimedOut { .. } | Cause::Connect { .. } => true,
            _ => false,
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Http(code) => write!(f, "HTTP {code}"),
            Cause::PrometheusError(text) => write!(f, "status \"error\": {text}"),
            Cause::NotJson => f.write_str("body is not JSON"),
            Cause::NotVector(t) => write!(f, "result type is {t:?}, expected \"vector\""),
            Cause::TimedOut { attempts } => {
                write!(f, "timed out after {}s ({attempts} attempts)", ATTEMPT_TIMEOUT.as_secs())
            }
            Cause::CertificateVerifyFailed(e) => write!(f, "certificate verify failed: {e}"),
            Cause::Connect { detail, attempts } => write!(f, "connection failed ({attempts} attempts): {detail}"),
            Cause::TlsSetup(e) => write!(f, "TLS setup failed: {e}"),
            Cause::DeadlineExceeded => write!(f, "run deadline of {}s exceeded", RUN_DEADLINE.as_secs()),
            Cause::BodyTooLarge => write!(f, "answer body exceeds the {} MiB limit", MAX_BODY_BYTES >> 20),
            Cause::Redirect(code) => write!(f, "HTTP {code}: redirects are not followed"),
        }
    }
}

/// A failed query: which one, against which URL, and why. Never carries the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("query {query:?} to {url} failed: {cause}")]
pub struct QueryError {
    /// The PromQL text.
    pub query: String,
    /// The base URL (credentials removed).
    pub url: String,
    /// Why.
    pub cause: Cause,
}

#[derive(Deserialize)]
struct Response {
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    data: Option<Data>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<RawSample>,
}

#[derive(Deserialize)]
struct RawSample {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: (serde_json::Value, String),
}

/// A decoded answer: the finite samples and how many were dropped for a value that is not a
/// finite number.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Answer {
    /// Samples with a finite value, in the order of the answer.
    pub samples: Vec<Sample>,
    /// Samples dropped (value not a finite number).
    pub dropped: usize,
}

/// Decodes one answer from its HTTP status and body, as [`Client::query`] does after reading it
/// (a pure function: the fuzz target `prometheus_answer` drives it with arbitrary bytes).
pub fn decode_answer(status: u16, body: &[u8]) -> Result<Answer, Cause> {
    if (300..400).contains(&status) {
        return Err(Cause::Redirect(status));
    }
    let parsed: Option<Response> = serde_json::from_slice(body).ok();
    if status != 200 {
        if let Some(Response { status: s, error: Some(text), error_type, .. }) = &parsed {
            if s == "error" && status < 500 {
                let kind = error_type.as_deref().map(|t| format!("{t}: ")).unwrap_or_default();
                return Err(Cause::PrometheusError(format!("{kind}{text} (HTTP {status})")));
            }
        }
        return Err(Cause::Http(status));
    }
    let parsed = parsed.ok_or(Cause::NotJson)?;
    if parsed.status != "success" {
        return Err(Cause::PrometheusError(parsed.error.unwrap_or_default()));
    }
    let data = parsed.data.ok_or(Cause::NotJson)?;
    if data.result_type != "vector" {
        // Only Prometheus's own type names are echoed: the field is server-controlled text.
        let known = ["matrix", "scalar", "string"];
        let t = if known.contains(&data.result_type.as_str()) { data.result_type } else { "unknown".into() };
        return Err(Cause::NotVector(t));
    }
    let mut answer = Answer { samples: Vec::with_capacity(data.result.len()), dropped: 0 };
    for s in data.result {
        match s.value.1.parse::<f64>() {
            Ok(v) if v.is_finite() => answer.samples.push(Sample { labels: s.metric, value: v }),
            _ => answer.dropped += 1,
        }
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_answers() {
        let ok = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"a":"1"},"value":[1,"2.5"]},{"metric":{},"value":[1,"NaN"]},{"value":[1,"+Inf"]}]}}"#;
        let a = decode_answer(200, ok).unwrap();
        assert_eq!(a.samples.len(), 1);
        assert_eq!(a.samples[0].label("a"), "1");
        assert_eq!(a.dropped, 2);
        assert_eq!(decode_answer(200, b"<html>"), Err(Cause::NotJson));
        assert_eq!(decode_answer(503, b"{}"), Err(Cause::Http(503)));
        assert!(Cause::Http(503).is_retryable() && !Cause::Http(404).is_retryable());
        for code in [301, 302, 307, 308] {
            assert_eq!(decode_answer(code, b""), Err(Cause::Redirect(code)));
            assert!(!Cause::Redirect(code).is_retryable());
        }
        let bad = br#"{"status":"error","errorType":"bad_data","error":"parse error"}"#;
        assert_eq!(decode_answer(400, bad), Err(Cause::PrometheusError("bad_data: parse error (HTTP 400)".into())));
        let matrix = br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert_eq!(decode_answer(200, matrix), Err(Cause::NotVector("matrix".into())));
        let odd = br#"{"status":"success","data":{"resultType":"s3cr3t","result":[]}}"#;
        assert_eq!(decode_answer(200, odd), Err(Cause::NotVector("unknown".into())));
    }

    #[test]
    fn causes_read_as_the_spec_words_them() {
        assert_eq!(Cause::Http(503).to_string(), "HTTP 503");
        assert_eq!(Cause::NotJson.to_string(), "body is not JSON");
        assert_eq!(Cause::TimedOut { attempts: 3 }.to_string(), "timed out after 10s (3 attempts)");
        assert_eq!(Cause::PrometheusError("boom".into()).to_string(), "status \"error\": boom");
    }
}
