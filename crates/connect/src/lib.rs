//! Client of the provider's Connect API (`module-hooks.md` §2, decisions 12 and 25).
//!
//! * Base URL from `CONNECT_URL` (default `https://connect.deckhouse.io`, trailing `/` ignored);
//!   10 s per request; no retries.
//! * TLS verified against the Mozilla roots compiled into the binary, plus the certificates of
//!   `CONNECT_CA_FILE` when set (a private CA, a TLS-inspecting proxy, tests). No CA bundle is
//!   read from `/etc`: module hooks run chrooted by addon-operator, where there is none.
//! * Host names (Connect's, the proxy's) are resolved by `dns-discovery` — `DNS_SERVER`, else
//!   `/etc/resolv.conf`, else the cluster DNS address the hook passes from
//!   `global.discovery.clusterDNSAddress` — never by the C library, which a static binary in the
//!   chroot cannot use.
//! * The process's `HTTPS_PROXY`/`NO_PROXY` (and lower-case forms) are honoured; loopback
//!   addresses are never proxied.
//! * **The status code is checked before the body is decoded**: a non-200 answer becomes
//!   `HTTP <code>: <detail>` where the detail is the JSON `error`, else the JSON `message`, else
//!   the reason phrase when the body is JSON, else `body is not JSON`.
//! * The license key and the Madison key are [`Secret`]s and never part of an error.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dns_discovery::Nameserver;

use secret_log::Secret;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `CONNECT_URL`.
pub const ENV_URL: &str = "CONNECT_URL";
/// The values path hooks read the cluster DNS address from (for [`Client::from_env`]).
pub use dns_discovery::CLUSTER_DNS_ADDRESS;

/// `CONNECT_CA_FILE`: a PEM file whose certificates are trusted besides the compiled-in roots.
pub const ENV_CA_FILE: &str = "CONNECT_CA_FILE";
/// Default base URL.
pub const DEFAULT_URL: &str = "https://connect.deckhouse.io";
/// Timeout of one request.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Failures talking to Connect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The request did not complete: refused, DNS, TLS, timeout, proxy.
    #[error("{0}")]
    Transport(String),
    /// A non-200 status, or a 200 whose body is not the expected JSON.
    #[error("HTTP {code}: {detail}")]
    Http {
        /// Status code.
        code: u16,
        /// `error` or `message` of the JSON body, the reason phrase, or `body is not JSON`.
        detail: String,
    },
}

impl Error {
    /// Whether the request never got an answer (the caller may retry later).
    #[must_use]
    pub fn is_transport(&self) -> bool {
        matches!(self, Error::Transport(_))
    }
}

/// The answer of `POST /v1/madison_register` (status 200).
#[derive(Debug, Clone, Deserialize)]
pub struct Registration {
    /// Error text, empty on success.
    #[serde(default)]
    pub error: String,
    /// The new Madison key, empty on failure.
    #[serde(default)]
    pub auth_key: Secret<String>,
}

/// The answer of `POST /v1/madison_status`: any status, with the JSON body if it is JSON.
#[derive(Debug, Clone)]
pub struct StatusAnswer {
    /// Status code.
    pub code: u16,
    /// The body parsed as JSON, `None` when it is not JSON.
    pub body: Option<Value>,
}

/// A Connect client.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

/// The reason phrase of a status, e.g. `Unauthorized`.
fn reason(code: u16) -> String {
    reqwest::StatusCode::from_u16(code).ok().and_then(|s| s.canonical_reason()).unwrap_or("Unknown").to_string()
}

/// The detail of a non-200 answer, from the body.
fn detail(code: u16, body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => {
            let field = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
            field("error").or_else(|| field("message")).unwrap_or_else(|| reason(code))
        }
        Err(_) => "body is not JSON".to_string(),
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The transport error's causes, never its URL.
fn transport(e: &reqwest::Error) -> Error {
    if let Some(v) = tls_client::verification_failure(e) {
        return Error::Transport(format!("certificate verify failed: {v}"));
    }
    if e.is_timeout() {
        return Error::Transport(format!("timed out after {}s", TIMEOUT.as_secs()));
    }
    let mut detail = String::new();
    let mut cur = std::error::Error::source(e);
    while let Some(s) = cur {
        detail = s.to_string();
        cur = s.source();
    }
    Error::Transport(if detail.is_empty() { "request failed".into() } else { detail })
}

#[derive(Serialize)]
struct RegisterBody<'a> {
    #[serde(rename = "madisonData")]
    madison_data: &'a str,
}

#[derive(Serialize)]
struct StatusBody<'a> {
    auth_key: &'a str,
}

/// How the client resolves host names: through the server `dns-discovery` chose. A failure to
/// choose one is kept and reported only when a name must really be resolved, so an IP-literal
/// `CONNECT_URL` works without any DNS configuration.
struct HookResolver(Result<Nameserver, dns_discovery::Error>);

impl reqwest::dns::Resolve for HookResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let server = self.0.clone();
        Box::pin(async move {
            let resolver = dns_discovery::Resolver::new(&server?, dns_discovery::TIMEOUT)?;
            let found = resolver.lookup(name.as_str()).await?;
            if found.addrs.is_empty() {
                return Err(format!("{} has no address", name.as_str()).into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(found.addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// Everything a client is built from, explicit for tests; [`Settings::from_env`] reads the
/// process environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The base URL.
    pub base: String,
    /// `CONNECT_CA_FILE`.
    pub ca_file: Option<PathBuf>,
    /// The name server for host names (or why there is none).
    pub nameserver: Result<Nameserver, dns_discovery::Error>,
}

impl Settings {
    /// `CONNECT_URL` (or the default), `CONNECT_CA_FILE`, and the name server chosen from
    /// `DNS_SERVER`, `/etc/resolv.conf` and `cluster_dns` (the values'
    /// `global.discovery.clusterDNSAddress`).
    #[must_use]
    pub fn from_env(cluster_dns: Option<&str>) -> Self {
        Self::from_lookup(|k| std::env::var(k).ok(), cluster_dns)
    }

    /// [`Settings::from_env`] with the variables read from `get` (a hook's `Input::env`).
    #[must_use]
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>, cluster_dns: Option<&str>) -> Self {
        let var = |name: &str| get(name).filter(|v| !v.is_empty());
        Self {
            base: var(ENV_URL).unwrap_or_else(|| DEFAULT_URL.to_string()),
            ca_file: var(ENV_CA_FILE).map(PathBuf::from),
            nameserver: Nameserver::from_lookup(&get, cluster_dns),
        }
    }
}

impl Client {
    /// A client configured by the environment ([`Settings::from_env`]).
    pub fn from_env(cluster_dns: Option<&str>) -> Result<Self, Error> {
        Self::new(Settings::from_env(cluster_dns))
    }

    /// A client configured by variables read from `get` ([`Settings::from_lookup`]).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>, cluster_dns: Option<&str>) -> Result<Self, Error> {
        Self::new(Settings::from_lookup(get, cluster_dns))
    }

    /// A client for explicit settings.
    pub fn new(settings: Settings) -> Result<Self, Error> {
        let base = settings.base.trim_end_matches('/').to_string();
        let parsed = url::Url::parse(&base).map_err(|e| Error::Transport(format!("invalid CONNECT_URL: {e}")))?;
        tls_client::install_default_provider();
        let mut builder = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .http1_only()
            .dns_resolver(Arc::new(HookResolver(settings.nameserver)));
        if is_loopback(&parsed) {
            builder = builder.no_proxy();
        }
        // Always preconfigured, even for `http://`: reqwest's own default would look for the
        // system's CA bundle and fail to build where there is none.
        let tls = tls_client::client_config(&tls_client::Roots::Bundled { extra: settings.ca_file }, true)
            .map_err(|e| Error::Transport(format!("{ENV_CA_FILE}: {e}")))?;
        builder = builder.tls_backend_preconfigured(tls);
        let http = builder.build().map_err(|e| transport(&e))?;
        Ok(Self { http, base })
    }

    /// The full URL of an endpoint, for messages (no credentials are ever in it).
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post<B: Serialize>(
        &self,
        path: &str,
        license: &Secret<String>,
        body: &B,
    ) -> Result<(u16, Vec<u8>), Error> {
        let resp = self
            .http
            .post(self.url(path))
            .bearer_auth(license.expose())
            .header(reqwest::header::ACCEPT, "application/json")
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(body).map_err(|e| Error::Transport(e.to_string()))?)
            .send()
            .await
            .map_err(|e| transport(&e))?;
        let code = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| transport(&e))?;
        Ok((code, bytes.to_vec()))
    }

    /// `POST /v1/madison_register` with `{"madisonData": <payload>}`.
    pub async fn register(&self, license: &Secret<String>, madison_data: &str) -> Result<Registration, Error> {
        let (code, body) = self.post("/v1/madison_register", license, &RegisterBody { madison_data }).await?;
        if code != 200 {
            return Err(Error::Http { code, detail: detail(code, &body) });
        }
        serde_json::from_slice(&body).map_err(|_| Error::Http { code, detail: "body is not JSON".into() })
    }

    /// `POST /v1/madison_status` with `{"auth_key": <key>}`; any status is an answer.
    pub async fn status(&self, license: &Secret<String>, auth_key: &Secret<String>) -> Result<StatusAnswer, Error> {
        let (code, body) =
            self.post("/v1/madison_status", license, &StatusBody { auth_key: auth_key.expose() }).await?;
        Ok(StatusAnswer { code, body: serde_json::from_slice(&body).ok() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_in_the_spec_order() {
        assert_eq!(detail(500, br#"{"error":"foobar","auth_key":""}"#), "foobar");
        assert_eq!(detail(401, br#"{"message":"Unauthorized"}"#), "Unauthorized");
        assert_eq!(detail(401, br#"{"error":"","message":""}"#), "Unauthorized");
        assert_eq!(detail(502, b"<html>Bad Gateway</html>"), "body is not JSON");
        assert_eq!(
            Error::Http { code: 502, detail: "body is not JSON".into() }.to_string(),
            "HTTP 502: body is not JSON"
        );
    }

    #[test]
    fn loopback_is_never_proxied() {
        for (u, want) in [
            ("http://127.0.0.1:8080", true),
            ("http://[::1]:1", true),
            ("http://localhost", true),
            ("https://connect.deckhouse.io", false),
        ] {
            assert_eq!(is_loopback(&url::Url::parse(u).unwrap()), want, "{u}");
        }
    }
}
