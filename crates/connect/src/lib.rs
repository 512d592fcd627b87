//! Client of the provider's Connect API (`module-hooks.md` §2, decisions 12 and 25).
//!
//! * Base URL from `CONNECT_URL` (default `https://connect.deckhouse.io`, trailing `/` ignored).
//!   It must be `http(s)://host[:port][/path]`: user information, a query or a fragment make
//!   [`Client::new`] fail with [`Error::Config`] (naming the URL without them), so no credential
//!   can ride in it and every message can show it.
//! * One request per call, no retries, bounded by `CONNECT_TIMEOUT` seconds (default
//!   [`DEFAULT_TIMEOUT`], 10 s; fractions allowed, at most [`MAX_TIMEOUT`]) for connect, TLS,
//!   headers and body together. Tests set it low so fault cases finish fast. Its expiry reads
//!   `timed out after <CONNECT_TIMEOUT>`; a timeout reported by the connect phase itself (the
//!   system's connect timeout, a resolver's) reads `connect timed out: <cause>`.
//! * TLS verified against the Mozilla roots compiled into the binary, plus the certificates of
//!   `CONNECT_CA_FILE` when set (a private CA, a TLS-inspecting proxy, tests). No CA bundle is
//!   read from `/etc`: module hooks run chrooted by addon-operator, where there is none.
//! * Host names (Connect's, the proxy's) are resolved by `dns-discovery` — `DNS_SERVER`, else
//!   `/etc/resolv.conf`, else the cluster DNS address the hook passes from
//!   `global.discovery.clusterDNSAddress` — never by the C library, which a static binary in the
//!   chroot cannot use. Each lookup is bounded by `DNS_TIMEOUT` seconds per address family
//!   (`dns_discovery::timeout_from_lookup`: fractions allowed, above 0 and at most 60; default
//!   5 s), and the whole request, the lookup included, by `CONNECT_TIMEOUT`. An unusable
//!   `DNS_TIMEOUT` is an [`Error::Config`] of [`Client::new`] (the value is not shown), even for
//!   an IP-literal base URL that needs no lookup.
//! * Proxy: `HTTPS_PROXY` (or `https_proxy`) for an `https` base URL, `HTTP_PROXY` (or
//!   `http_proxy`) for `http`, except for hosts matched by `NO_PROXY` (or `no_proxy`); loopback
//!   addresses are never proxied. They are read through [`Settings::from_lookup`] like every other
//!   variable and parsed by [`ProxySetting`]: an unparsable setting is an [`Error::Config`] naming
//!   the variable, never its value (it may hold a password).
//! * **Redirects are never followed**: the license (bearer token) and the Madison key (body) would
//!   be re-sent to the new address. A 3xx answer is [`Error::Redirect`].
//! * **Every answer body is read through a [`MAX_BODY_BYTES`] cap** (1 MiB; a `Content-Length`
//!   above it is refused before reading): a server that streams an endless body costs one bounded
//!   buffer, and the call fails with [`Error::BodyTooLarge`].
//! * **The status code is checked before the body is decoded**: a non-200 answer becomes
//!   `HTTP <code>: <detail>` where the detail is the JSON `error`, else the JSON `message`, else
//!   the reason phrase when the body is JSON, else `body is not JSON`.
//! * Error text is built from our own words and typed parts (the URL without user information,
//!   status codes, Connect's own `error`/`message`); the license key, the Madison key and proxy
//!   passwords are never part of it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), connect::Error> {
//! let client = connect::Client::from_lookup(|k| std::env::var(k).ok(), Some("10.222.0.10"))?;
//! let license = secret_log::Secret::new("license".to_string());
//! let registration = client.register(&license, "{}").await?;
//! # Ok(())
//! # }
//! ```

mod proxy;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dns_discovery::Nameserver;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};

pub use proxy::{ProxyError, ProxySetting};
use secret_log::Secret;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `CONNECT_URL`.
pub const ENV_URL: &str = "CONNECT_URL";
/// The values path hooks read the cluster DNS address from (for [`Client::from_env`]).
pub use dns_discovery::CLUSTER_DNS_ADDRESS;

/// `CONNECT_CA_FILE`: a PEM file whose certificates are trusted besides the compiled-in roots.
pub const ENV_CA_FILE: &str = "CONNECT_CA_FILE";
/// `CONNECT_TIMEOUT`: seconds one request may take (fractions allowed), default [`DEFAULT_TIMEOUT`].
pub const ENV_TIMEOUT: &str = "CONNECT_TIMEOUT";
/// Default base URL.
pub const DEFAULT_URL: &str = "https://connect.deckhouse.io";
/// Default timeout of one request (connect, TLS, headers and body).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest `CONNECT_TIMEOUT` accepted: the hooks run in addon-operator's module queues, where
/// a longer wait would hold the queue.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);
/// The largest answer body read, in bytes (1 MiB).
///
/// Sized from real answers: Connect answers `madison_register` and `madison_status` with a JSON
/// object of two short strings, `{"error": "", "auth_key": "<key>"}` or `{"error": "Archived
/// setup"}` — under 200 bytes (`module-hooks.md` §5, §6). What else can answer is an HTTP
/// intermediary's error page (nginx's default pages are under 1 KiB, CDN and corporate-proxy
/// pages with inline styles a few tens of KiB). 1 MiB is thousands of times a real answer and
/// over ten times the largest error page, and one buffer of it is the hook's whole cost, since
/// the hooks make one request per run.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Failures talking to Connect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The settings are unusable (`CONNECT_URL`, `CONNECT_TIMEOUT`, `DNS_TIMEOUT`,
    /// `CONNECT_CA_FILE`, a proxy variable); the text names the setting, never a credential.
    #[error("{0}")]
    Config(String),
    /// The request did not complete: refused, DNS, TLS, timeout, proxy.
    #[error("{0}")]
    Transport(String),
    /// A redirect (3xx), which is never followed.
    #[error("HTTP {code}: redirects are not followed")]
    Redirect {
        /// Status code.
        code: u16,
    },
    /// The answer body is larger than [`MAX_BODY_BYTES`].
    #[error("answer body exceeds the {} MiB limit", MAX_BODY_BYTES >> 20)]
    BodyTooLarge,
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

/// The answer of `POST /v1/madison_status`: any status but a redirect, with the JSON body if it
/// is JSON.
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
    timeout: Duration,
    dns_timeout: Duration,
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

/// A duration as the messages show it: `10s`, `0.25s`.
fn seconds(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

/// The transport error's causes, never its URL.
fn transport(e: &reqwest::Error, timeout: Duration) -> Error {
    if let Some(v) = tls_client::verification_failure(e) {
        return Error::Transport(format!("certificate verify failed: {v}"));
    }
    Error::Transport(transport_text(e.is_timeout(), e.is_connect(), tls_client::causes(e).pop(), timeout))
}

/// The text of a transport failure from what reqwest says of it: a timeout outside the connect
/// phase is the request's own (`CONNECT_TIMEOUT`, the only timeout the client sets); a timeout
/// while connecting (the system's connect timeout, a resolver's) is not, so it is shown with its
/// cause; anything else is its innermost cause.
fn transport_text(timed_out: bool, connecting: bool, cause: Option<String>, timeout: Duration) -> String {
    match (timed_out, connecting, cause) {
        (true, false, _) => format!("timed out after {}", seconds(timeout)),
        (true, true, Some(cause)) => format!("connect timed out: {cause}"),
        (true, true, None) => "connect timed out".into(),
        (false, _, Some(cause)) => cause,
        (false, _, None) => "request failed".into(),
    }
}

/// Parses `CONNECT_TIMEOUT`: seconds, more than 0 and at most [`MAX_TIMEOUT`].
fn parse_timeout(text: &str) -> Result<Duration, Error> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= MAX_TIMEOUT.as_secs_f64())
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            Error::Config(format!(
                "{ENV_TIMEOUT} must be a number of seconds above 0 and at most {}",
                MAX_TIMEOUT.as_secs()
            ))
        })
}

/// The base URL checked: `http(s)://host[:port][/path]`, nothing else.
fn parse_base(base: &str) -> Result<url::Url, Error> {
    let url = url::Url::parse(base).map_err(|e| Error::Config(format!("invalid {ENV_URL}: {e}")))?;
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    let shown = shown.as_str().trim_end_matches('/').to_string();
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::Config(format!("{ENV_URL} {shown}: the scheme must be http or https")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::Config(format!("{ENV_URL} {shown}: user information is not allowed")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::Config(format!("{ENV_URL} {shown}: a query or fragment is not allowed")));
    }
    Ok(url)
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

/// How the client resolves host names: through the server `dns-discovery` chose, each lookup
/// bounded by `timeout` (`DNS_TIMEOUT`). A failure to choose a server is kept and reported only
/// when a name must really be resolved, so an IP-literal `CONNECT_URL` works without any DNS
/// configuration.
struct HookResolver {
    server: Result<Nameserver, dns_discovery::Error>,
    timeout: Duration,
}

impl reqwest::dns::Resolve for HookResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let server = self.server.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            let resolver = dns_discovery::Resolver::new(&server?, timeout)?;
            let found = resolver.lookup(name.as_str()).await?;
            if found.addrs.is_empty() {
                return Err(format!("{} has no address", name.as_str()).into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(found.addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// A proxy variable: its name and value (a [`Secret`]: it may hold a password).
#[derive(Debug, Clone)]
pub struct ProxyVar {
    /// The variable read (`HTTPS_PROXY`, `https_proxy`, ...).
    pub name: &'static str,
    /// Its value.
    pub value: Secret<String>,
}

/// Everything a client is built from, explicit for tests; [`Settings::from_env`] reads the
/// process environment. `Debug` shows no credential.
#[derive(Clone)]
pub struct Settings {
    /// The base URL.
    pub base: Secret<String>,
    /// `CONNECT_CA_FILE`.
    pub ca_file: Option<PathBuf>,
    /// The name server for host names (or why there is none).
    pub nameserver: Result<Nameserver, dns_discovery::Error>,
    /// `DNS_TIMEOUT`: the bound of one lookup per address family (or why it is unusable).
    pub dns_timeout: Result<Duration, dns_discovery::Error>,
    /// `CONNECT_TIMEOUT` (or why it is unusable).
    pub timeout: Result<Duration, Error>,
    /// The proxy for an `https` base URL: `HTTPS_PROXY`, else `https_proxy`.
    pub https_proxy: Option<ProxyVar>,
    /// The proxy for an `http` base URL: `HTTP_PROXY`, else `http_proxy`.
    pub http_proxy: Option<ProxyVar>,
    /// `NO_PROXY`, else `no_proxy`.
    pub no_proxy: Option<String>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("base", &self.base)
            .field("ca_file", &self.ca_file)
            .field("nameserver", &self.nameserver)
            .field("dns_timeout", &self.dns_timeout)
            .field("timeout", &self.timeout)
            .field("https_proxy", &self.https_proxy)
            .field("http_proxy", &self.http_proxy)
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

impl Settings {
    /// `CONNECT_URL` (or the default), `CONNECT_CA_FILE`, `CONNECT_TIMEOUT`, the proxy variables,
    /// the name server chosen from `DNS_SERVER`, `/etc/resolv.conf` and `cluster_dns` (the
    /// values' `global.discovery.clusterDNSAddress`), and `DNS_TIMEOUT`.
    #[must_use]
    pub fn from_env(cluster_dns: Option<&str>) -> Self {
        Self::from_lookup(|k| std::env::var(k).ok(), cluster_dns)
    }

    /// [`Settings::from_env`] with the variables read from `get` (a hook's `Input::env`).
    #[must_use]
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>, cluster_dns: Option<&str>) -> Self {
        let var = |name: &str| get(name).filter(|v| !v.is_empty());
        let proxy = |names: [&'static str; 2]| {
            names.into_iter().find_map(|name| var(name).map(|v| ProxyVar { name, value: Secret::new(v) }))
        };
        Self {
            base: Secret::new(var(ENV_URL).unwrap_or_else(|| DEFAULT_URL.to_string())),
            ca_file: var(ENV_CA_FILE).map(PathBuf::from),
            nameserver: Nameserver::from_lookup(&get, cluster_dns),
            dns_timeout: dns_discovery::timeout_from_lookup(&get),
            timeout: var(ENV_TIMEOUT).map_or(Ok(DEFAULT_TIMEOUT), |t| parse_timeout(&t)),
            https_proxy: proxy(["HTTPS_PROXY", "https_proxy"]),
            http_proxy: proxy(["HTTP_PROXY", "http_proxy"]),
            no_proxy: var("NO_PROXY").or_else(|| var("no_proxy")),
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
        let parsed = parse_base(settings.base.expose().trim_end_matches('/'))?;
        let base = parsed.as_str().trim_end_matches('/').to_string();
        let timeout = settings.timeout?;
        let dns_timeout = settings.dns_timeout.map_err(|e| Error::Config(e.to_string()))?;
        tls_client::install_default_provider();
        // No redirects: following one would re-send the license and the Madison key elsewhere.
        // The proxy is configured here from the settings, never by reqwest from the process.
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .http1_only()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(HookResolver { server: settings.nameserver, timeout: dns_timeout }));
        let proxy_var = if parsed.scheme() == "https" { settings.https_proxy } else { settings.http_proxy };
        if let Some(var) = proxy_var.filter(|_| !is_loopback(&parsed)) {
            let setting =
                ProxySetting::parse(var.name, var.value.expose(), "http").map_err(|e| Error::Config(e.to_string()))?;
            let proxy = reqwest::Proxy::all(setting.url().clone())
                .map_err(|_| Error::Config(format!("cannot use proxy setting {}: {setting}", var.name)))?
                .no_proxy(settings.no_proxy.as_deref().and_then(reqwest::NoProxy::from_string));
            builder = builder.proxy(proxy);
        }
        // Always preconfigured, even for `http://`: reqwest's own default would look for the
        // system's CA bundle and fail to build where there is none.
        let tls = tls_client::client_config(&tls_client::Roots::Bundled { extra: settings.ca_file }, true)
            .map_err(|e| Error::Config(format!("{ENV_CA_FILE}: {e}")))?;
        builder = builder.tls_backend_preconfigured(tls);
        let http = builder.build().map_err(|e| transport(&e, timeout))?;
        Ok(Self { http, base, timeout, dns_timeout })
    }

    /// The full URL of an endpoint, for messages (it never holds credentials: [`Client::new`]
    /// refuses a base URL with user information or a query).
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The timeout of one request.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The timeout of one host-name lookup per address family (`DNS_TIMEOUT`).
    #[must_use]
    pub fn dns_timeout(&self) -> Duration {
        self.dns_timeout
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
            .map_err(|e| transport(&e, self.timeout))?;
        let code = resp.status().as_u16();
        if (300..400).contains(&code) {
            return Err(Error::Redirect { code });
        }
        let body = read_bounded(resp, MAX_BODY_BYTES, self.timeout).await?;
        Ok((code, body))
    }

    /// `POST /v1/madison_register` with `{"madisonData": <payload>}`.
    pub async fn register(&self, license: &Secret<String>, madison_data: &str) -> Result<Registration, Error> {
        let (code, body) = self.post("/v1/madison_register", license, &RegisterBody { madison_data }).await?;
        if code != 200 {
            return Err(Error::Http { code, detail: detail(code, &body) });
        }
        serde_json::from_slice(&body).map_err(|_| Error::Http { code, detail: "body is not JSON".into() })
    }

    /// `POST /v1/madison_status` with `{"auth_key": <key>}`; any status but a redirect is an
    /// answer.
    pub async fn status(&self, license: &Secret<String>, auth_key: &Secret<String>) -> Result<StatusAnswer, Error> {
        let (code, body) =
            self.post("/v1/madison_status", license, &StatusBody { auth_key: auth_key.expose() }).await?;
        Ok(StatusAnswer { code, body: serde_json::from_slice(&body).ok() })
    }
}

/// Reads the body into memory, at most `limit` bytes (`http_body_util::Limited`): a declared
/// `Content-Length` above the limit is refused before reading, and an endless or undeclared body
/// is cut at the limit.
async fn read_bounded(resp: reqwest::Response, limit: usize, timeout: Duration) -> Result<Vec<u8>, Error> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(Error::BodyTooLarge);
    }
    match Limited::new(reqwest::Body::from(resp), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes().into()),
        Err(e) if e.is::<LengthLimitError>() => Err(Error::BodyTooLarge),
        Err(e) => Err(if let Some(e) = e.downcast_ref::<reqwest::Error>() {
            transport(e, timeout)
        } else {
            Error::Transport(tls_client::causes(&*e).pop().unwrap_or_else(|| e.to_string()))
        }),
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

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect();
        Settings::from_lookup(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()), None)
    }

    fn config_error(vars: &[(&str, &str)]) -> String {
        match Client::new(settings(vars)) {
            Err(Error::Config(e)) => e,
            other => panic!("{vars:?}: {other:?}"),
        }
    }

    /// Issue 10: a `CONNECT_URL` with user information or a query is refused, and the message
    /// shows the URL without them.
    #[test]
    fn issue_10_base_urls_carry_no_credentials() {
        for (url, want) in [
            ("http://admin:PASSWORD@127.0.0.1:1", "CONNECT_URL http://127.0.0.1:1: user information is not allowed"),
            ("http://PASSWORD@127.0.0.1:1/", "CONNECT_URL http://127.0.0.1:1: user information is not allowed"),
            ("https://h.test/?token=PASSWORD", "CONNECT_URL https://h.test: a query or fragment is not allowed"),
            ("https://h.test/#PASSWORD", "CONNECT_URL https://h.test: a query or fragment is not allowed"),
            ("ftp://h.test", "CONNECT_URL ftp://h.test: the scheme must be http or https"),
            ("http://u:PASSWORD@bad host:1", "invalid CONNECT_URL: invalid international domain name"),
        ] {
            assert_eq!(config_error(&[(ENV_URL, url)]), want);
        }
        let c = Client::new(settings(&[(ENV_URL, "https://connect.test/base/")])).unwrap();
        assert_eq!(c.url("/v1/madison_status"), "https://connect.test/base/v1/madison_status");
        let s = format!("{:?}", settings(&[(ENV_URL, "http://a:PASSWORD@h"), ("HTTPS_PROXY", "http://u:PASSWORD@p")]));
        assert!(!s.contains("PASSWORD"), "{s}");
    }

    /// Issue 10: an unparsable proxy variable is a config error naming the variable, not its value;
    /// it is only parsed when it would be used (not for loopback).
    #[test]
    fn issue_10_proxy_errors_without_passwords() {
        let bad = "http://u:PASSWORD@proxy host:3128";
        for (url, var) in [("https://connect.test", "HTTPS_PROXY"), ("http://connect.test", "http_proxy")] {
            let e = config_error(&[(ENV_URL, url), (var, bad)]);
            assert_eq!(e, format!("cannot parse proxy setting {var}: invalid international domain name"));
        }
        assert!(Client::new(settings(&[(ENV_URL, "http://127.0.0.1:1"), ("HTTP_PROXY", bad)])).is_ok());
        assert!(
            Client::new(settings(&[(ENV_URL, "https://connect.test"), ("HTTPS_PROXY", "u:PASSWORD@p:3128")])).is_ok()
        );
    }

    /// A resolver that gives up with an I/O timeout, as a system resolver or connector would.
    struct TimingOut;

    impl reqwest::dns::Resolve for TimingOut {
        fn resolve(&self, _: reqwest::dns::Name) -> reqwest::dns::Resolving {
            Box::pin(async {
                let e: Box<dyn std::error::Error + Send + Sync> =
                    Box::new(std::io::Error::new(std::io::ErrorKind::TimedOut, "resolver gave up"));
                Err(e)
            })
        }
    }

    /// A timeout while connecting is not the request's `CONNECT_TIMEOUT`: it is shown with its
    /// cause. The request's own timeout still reads `timed out after <CONNECT_TIMEOUT>`. Both are
    /// real reqwest errors on loopback (a resolver that times out; a listener that never answers).
    #[tokio::test]
    async fn connect_phase_timeouts_are_not_the_request_timeout() {
        tls_client::install_default_provider();
        let tls = tls_client::client_config(&tls_client::Roots::Bundled { extra: None }, true).unwrap();
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(DEFAULT_TIMEOUT)
            .dns_resolver(Arc::new(TimingOut))
            .tls_backend_preconfigured(tls)
            .build()
            .unwrap();
        let e = http.get("http://connect.test/v1/madison_status").send().await.unwrap_err();
        assert!(e.is_timeout() && e.is_connect(), "{e:?}");
        assert_eq!(transport(&e, DEFAULT_TIMEOUT), Error::Transport("connect timed out: resolver gave up".into()));

        // Connected (the kernel accepts into the backlog), never answered: the request's timeout.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", silent.local_addr().unwrap());
        let client = Client::new(settings(&[(ENV_URL, &url), (ENV_TIMEOUT, "0.2")])).unwrap();
        let license = Secret::new("l".to_string());
        let err = client.status(&license, &Secret::new("k".to_string())).await.unwrap_err();
        assert_eq!(err, Error::Transport("timed out after 0.2s".into()));
    }

    /// Which words each kind of transport failure gets.
    #[test]
    fn transport_text_by_phase() {
        let t = |timed_out, connecting, cause: Option<&str>| {
            transport_text(timed_out, connecting, cause.map(str::to_string), Duration::from_millis(500))
        };
        assert_eq!(t(true, false, Some("operation timed out")), "timed out after 0.5s");
        assert_eq!(
            t(true, true, Some("Connection timed out (os error 110)")),
            "connect timed out: Connection timed out (os error 110)"
        );
        assert_eq!(t(true, true, None), "connect timed out");
        assert_eq!(t(false, true, Some("Connection refused (os error 111)")), "Connection refused (os error 111)");
        assert_eq!(t(false, false, None), "request failed");
    }

    /// Issue 11: `CONNECT_TIMEOUT` sets the timeout; the default stays 10 s.
    #[test]
    fn issue_11_timeout_is_configurable() {
        let t = |v: Option<&str>| {
            let vars: Vec<(&str, &str)> = v.map(|v| (ENV_TIMEOUT, v)).into_iter().collect();
            Client::new(settings(&vars)).map(|c| c.timeout())
        };
        assert_eq!(t(None), Ok(DEFAULT_TIMEOUT));
        assert_eq!(DEFAULT_TIMEOUT, Duration::from_secs(10));
        assert_eq!(t(Some("0.25")), Ok(Duration::from_millis(250)));
        assert_eq!(t(Some(" 3 ")), Ok(Duration::from_secs(3)));
        for bad in ["0", "-1", "abc", "NaN", "inf", "301"] {
            assert_eq!(
                t(Some(bad)),
                Err(Error::Config("CONNECT_TIMEOUT must be a number of seconds above 0 and at most 300".into())),
                "{bad}"
            );
        }
        assert_eq!(seconds(Duration::from_millis(250)), "0.25s");
        assert_eq!(seconds(DEFAULT_TIMEOUT), "10s");
    }

    /// Issue 11: `DNS_TIMEOUT` bounds the resolver's lookups (default 5 s, dns-discovery's
    /// parser); an unusable value is a configuration error that does not echo the value, also for
    /// an IP-literal URL that needs no lookup.
    #[test]
    fn issue_11_dns_timeout_is_read() {
        let t = |v: Option<&str>| {
            let mut vars = vec![(ENV_URL, "http://127.0.0.1:1")];
            vars.extend(v.map(|v| (dns_discovery::ENV_DNS_TIMEOUT, v)));
            Client::new(settings(&vars)).map(|c| c.dns_timeout())
        };
        assert_eq!(t(None), Ok(dns_discovery::TIMEOUT));
        assert_eq!(t(Some("")), Ok(Duration::from_secs(5)));
        assert_eq!(t(Some("0.3")), Ok(Duration::from_millis(300)));
        assert_eq!(t(Some("60")), Ok(Duration::from_secs(60)));
        assert_eq!(settings(&[("DNS_TIMEOUT", "2.5")]).dns_timeout, Ok(Duration::from_millis(2500)));
        for bad in ["0", "-1", "60.5", "NaN", "inf", "5s", "s3cr3t"] {
            assert_eq!(
                t(Some(bad)),
                Err(Error::Config("DNS_TIMEOUT must be a number of seconds above 0 and at most 60".into())),
                "{bad}"
            );
        }
        // CONNECT_TIMEOUT stays its own setting.
        let c = Client::new(settings(&[(ENV_URL, "http://127.0.0.1:1"), ("DNS_TIMEOUT", "1"), (ENV_TIMEOUT, "7")]))
            .unwrap();
        assert_eq!((c.timeout(), c.dns_timeout()), (Duration::from_secs(7), Duration::from_secs(1)));
    }
}
