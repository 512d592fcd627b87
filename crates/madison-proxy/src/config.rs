//! The proxy's configuration from its environment (`madison-proxy.md` §1), and the limits and
//! timeouts that the spec fixes as numbers, each settable so fault tests can run in milliseconds.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use secret_log::Secret;

/// Every variable the proxy reads.
pub mod env {
    /// Address to listen on (default `0.0.0.0`; an IPv6 literal is allowed).
    pub const LISTEN_HOST: &str = "LISTEN_HOST";
    /// Port (default 8080).
    pub const LISTEN_PORT: &str = "LISTEN_PORT";
    /// Backend `host:port` (required).
    pub const MADISON_BACKEND: &str = "MADISON_BACKEND";
    /// The project's Madison key (required).
    pub const MADISON_AUTH_KEY: &str = "MADISON_AUTH_KEY";
    /// Virtual host: `Host`, SNI and the verified name (default `madison.flant.com`).
    pub const MADISON_HOST: &str = "MADISON_HOST";
    /// `https` (default) or `http`.
    pub const MADISON_SCHEME: &str = "MADISON_SCHEME";
    /// `true` disables certificate verification.
    pub const MADISON_INSECURE_SKIP_VERIFY: &str = "MADISON_INSECURE_SKIP_VERIFY";
    /// PEM file whose certificates are trusted besides the compiled-in Mozilla roots.
    pub const MADISON_CA_FILE: &str = "MADISON_CA_FILE";
    /// Connecting to the backend, TLS handshake included (default `5s`).
    pub const MADISON_CONNECT_TIMEOUT: &str = "MADISON_CONNECT_TIMEOUT";
    /// Waiting for the backend's response headers (default `10s`).
    pub const MADISON_RESPONSE_TIMEOUT: &str = "MADISON_RESPONSE_TIMEOUT";
    /// The whole exchange with the backend, its answer's body included (default `30s`).
    pub const MADISON_EXCHANGE_TIMEOUT: &str = "MADISON_EXCHANGE_TIMEOUT";
    /// Idle keep-alive connections to the backend are closed after this (default `90s`).
    pub const MADISON_IDLE_TIMEOUT: &str = "MADISON_IDLE_TIMEOUT";
    /// Largest backend answer body in bytes (default 65536); larger answers become a 502.
    pub const MADISON_ANSWER_LIMIT: &str = "MADISON_ANSWER_LIMIT";
    /// A client's request line and headers must arrive within this (default `10s`); it also
    /// closes idle keep-alive client connections.
    pub const CLIENT_HEADER_TIMEOUT: &str = "CLIENT_HEADER_TIMEOUT";
    /// A client's request body must arrive within this once its headers are in (default `10s`).
    pub const CLIENT_BODY_TIMEOUT: &str = "CLIENT_BODY_TIMEOUT";
    /// Client connections served at once (default 32; docs: "Limits"); further ones wait to be accepted.
    pub const MAX_CONNECTIONS: &str = "MAX_CONNECTIONS";
    /// How long complete in-flight requests may run after SIGTERM (default `30s`).
    pub const SHUTDOWN_TIMEOUT: &str = "SHUTDOWN_TIMEOUT";
}

/// Limits and timeouts; [`Limits::default`] is what `madison-proxy.md` and `docs/internal/decisions.md`
/// specify, each value overridable by its variable in [`env`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connect to the backend, TLS handshake included ([`env::MADISON_CONNECT_TIMEOUT`]).
    pub connect_timeout: Duration,
    /// Wait for the backend's response headers ([`env::MADISON_RESPONSE_TIMEOUT`]).
    pub response_timeout: Duration,
    /// The whole backend exchange ([`env::MADISON_EXCHANGE_TIMEOUT`]).
    pub exchange_timeout: Duration,
    /// Idle backend connections are closed after this ([`env::MADISON_IDLE_TIMEOUT`]).
    pub idle_timeout: Duration,
    /// Largest backend answer body in bytes ([`env::MADISON_ANSWER_LIMIT`]).
    pub answer_limit: usize,
    /// Request line and headers from a client ([`env::CLIENT_HEADER_TIMEOUT`]).
    pub client_header_timeout: Duration,
    /// A client's request body once its headers are in ([`env::CLIENT_BODY_TIMEOUT`]).
    pub client_body_timeout: Duration,
    /// Client connections served at once ([`env::MAX_CONNECTIONS`]).
    pub max_connections: usize,
    /// Drain time for complete in-flight requests after SIGTERM ([`env::SHUTDOWN_TIMEOUT`]).
    pub shutdown_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(10),
            exchange_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(90),
            answer_limit: 64 * 1024,
            client_header_timeout: Duration::from_secs(10),
            client_body_timeout: Duration::from_secs(10),
            max_connections: 32,
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// The longest duration any variable accepts: one hour.
///
/// Every duration is added to `Instant::now()` somewhere (hyper's header timer, tokio's
/// timeouts, the pool's idle timer); a value near `u64::MAX` seconds overflows that addition and
/// panics inside hyper on every connection. One hour is far above any sensible value — the
/// spec's longest is the 90 s idle timeout, Prometheus gives up on an Alertmanager after 10 s and
/// Kubernetes kills a pod 30 s after SIGTERM by default — so a larger value is a typo, refused
/// at start-up like any other invalid value.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);

/// The most client connections [`env::MAX_CONNECTIONS`] allows: each holds a file descriptor
/// (1024 is the usual soft `RLIMIT_NOFILE`) and up to about 2.75 MiB at worst (see the crate
/// docs), so 1024 connections are already ~2.8 GiB, far past the Deployment's memory limit.
pub const MAX_CONNECTIONS_LIMIT: usize = 1024;

/// The largest [`env::MADISON_ANSWER_LIMIT`]: the request body limit (1 MiB). Answers are tiny;
/// the per-connection memory bound assumes the answer is no larger than the request.
pub const MAX_ANSWER_LIMIT: usize = 1_048_576;

/// `300ms`, `10s` or `2m`: a positive whole number and a unit, at most [`MAX_DURATION`].
fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok().filter(|n| *n > 0)?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        _ => return None,
    };
    (d <= MAX_DURATION).then_some(d)
}
/// A duration the way the variables spell it: `10s`, or `300ms` when not whole seconds.
#[must_use]
pub fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Upstream scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP (tests).
    Http,
    /// TLS.
    Https,
}

impl Scheme {
    /// `http` or `https`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// The backend to dial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// IP literal or DNS name.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.host.parse::<IpAddr>() {
            Ok(ip) => write!(f, "{}", SocketAddr::new(ip, self.port)),
            Err(_) => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

/// Invalid configuration; messages name the variable and never echo the auth key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("{0} is not set")]
    Missing(&'static str),
    /// A variable has an invalid value.
    #[error("{var} {value:?} is invalid: {reason}")]
    Invalid {
        /// Variable name.
        var: &'static str,
        /// The offending value (never the auth key).
        value: String,
        /// What was expected.
        reason: &'static str,
    },
}

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// Backend to dial.
    pub backend: Backend,
    /// The Madison key.
    pub auth_key: Secret<String>,
    /// Virtual host.
    pub host: String,
    /// Upstream scheme.
    pub scheme: Scheme,
    /// Verify the backend certificate for `host`.
    pub tls_verify: bool,
    /// Trust anchors instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// Limits and timeouts.
    pub limits: Limits,
}

/// `MADISON_BACKEND` as an error may show it: anything up to an `@` (user info a proxy address
/// may carry, `user:password@`) is replaced, so a password never reaches a log line.
fn without_user_info(value: &str) -> String {
    match value.rsplit_once('@') {
        Some((_, host)) => format!("<redacted>@{host}"),
        None => value.to_string(),
    }
}

fn parse_backend(value: &str, scheme: Scheme) -> Option<Backend> {
    let default_port = if scheme == Scheme::Https { 443 } else { 80 };
    if let Ok(sa) = value.parse::<SocketAddr>() {
        return Some(Backend { host: sa.ip().to_string(), port: sa.port() });
    }
    if let Ok(ip) = value.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return Some(Backend { host: ip.to_string(), port: default_port });
    }
    let (host, port) = match value.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (value, default_port),
    };
    let valid = !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    valid.then(|| Backend { host: host.to_string(), port })
}

impl Config {
    /// Reads and validates the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads and validates variables from `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let opt = |k: &str| get(k).filter(|v| !v.is_empty());
        let invalid =
            |var: &'static str, value: String, reason: &'static str| ConfigError::Invalid { var, value, reason };
        let backend_text = opt(env::MADISON_BACKEND).ok_or(ConfigError::Missing(env::MADISON_BACKEND))?;
        let auth_key = Secret::new(opt(env::MADISON_AUTH_KEY).ok_or(ConfigError::Missing(env::MADISON_AUTH_KEY))?);
        let scheme = match opt(env::MADISON_SCHEME).as_deref() {
            None | Some("https") => Scheme::Https,
            Some("http") => Scheme::Http,
            Some(other) => return Err(invalid(env::MADISON_SCHEME, other.into(), "expected http or https")),
        };
        let backend = parse_backend(&backend_text, scheme)
            .ok_or_else(|| invalid(env::MADISON_BACKEND, without_user_info(&backend_text), "expected host:port"))?;
        let host_text = opt(env::LISTEN_HOST).unwrap_or_else(|| "0.0.0.0".into());
        let listen_ip: IpAddr = host_text
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| invalid(env::LISTEN_HOST, host_text.clone(), "expected an IP address"))?;
        let port_text = opt(env::LISTEN_PORT).unwrap_or_else(|| "8080".into());
        let port: u16 =
            port_text.parse().map_err(|_| invalid(env::LISTEN_PORT, port_text.clone(), "expected a port number"))?;
        let host = opt(env::MADISON_HOST).unwrap_or_else(|| "madison.flant.com".into());
        let insecure = opt(env::MADISON_INSECURE_SKIP_VERIFY).is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let ca_file = opt(env::MADISON_CA_FILE).map(PathBuf::from);
        let duration = |var: &'static str, default: Duration| match opt(var) {
            None => Ok(default),
            Some(v) => parse_duration(&v).ok_or_else(|| {
                invalid(var, v, "expected a duration such as 300ms, 10s or 2m, at most 1 hour (3600s, 60m)")
            }),
        };
        let count = |var: &'static str, default: usize, max: usize, reason: &'static str| match opt(var) {
            None => Ok(default),
            Some(v) => v.parse().ok().filter(|n| (1..=max).contains(n)).ok_or_else(|| invalid(var, v, reason)),
        };
        let d = Limits::default();
        let limits = Limits {
            connect_timeout: duration(env::MADISON_CONNECT_TIMEOUT, d.connect_timeout)?,
            response_timeout: duration(env::MADISON_RESPONSE_TIMEOUT, d.response_timeout)?,
            exchange_timeout: duration(env::MADISON_EXCHANGE_TIMEOUT, d.exchange_timeout)?,
            idle_timeout: duration(env::MADISON_IDLE_TIMEOUT, d.idle_timeout)?,
            answer_limit: count(
                env::MADISON_ANSWER_LIMIT,
                d.answer_limit,
                MAX_ANSWER_LIMIT,
                "expected a number of bytes from 1 to 1048576",
            )?,
            client_header_timeout: duration(env::CLIENT_HEADER_TIMEOUT, d.client_header_timeout)?,
            client_body_timeout: duration(env::CLIENT_BODY_TIMEOUT, d.client_body_timeout)?,
            max_connections: count(
                env::MAX_CONNECTIONS,
                d.max_connections,
                MAX_CONNECTIONS_LIMIT,
                "expected a number from 1 to 1024",
            )?,
            shutdown_timeout: duration(env::SHUTDOWN_TIMEOUT, d.shutdown_timeout)?,
        };
        Ok(Self {
            listen: SocketAddr::new(listen_ip, port),
            backend,
            auth_key,
            host,
            scheme,
            tls_verify: !insecure,
            ca_file,
            limits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn required_variables() {
        assert_eq!(cfg(&[]).unwrap_err().to_string(), "MADISON_BACKEND is not set");
        assert_eq!(
            cfg(&[("MADISON_BACKEND", "192.0.2.1:443")]).unwrap_err().to_string(),
            "MADISON_AUTH_KEY is not set"
        );
        assert_eq!(
            cfg(&[("MADISON_BACKEND", "192.0.2.1:443"), ("MADISON_AUTH_KEY", "")]).unwrap_err().to_string(),
            "MADISON_AUTH_KEY is not set"
        );
    }

    #[test]
    fn defaults_and_backends() {
        let c = cfg(&[("MADISON_BACKEND", "[2001:db8::1]:443"), ("MADISON_AUTH_KEY", "k")]).unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(c.backend.to_string(), "[2001:db8::1]:443");
        assert_eq!((c.host.as_str(), c.scheme, c.tls_verify), ("madison.flant.com", Scheme::Https, true));
        let c = cfg(&[
            ("MADISON_BACKEND", "192.0.2.1"),
            ("MADISON_AUTH_KEY", "k"),
            ("MADISON_SCHEME", "http"),
            ("LISTEN_HOST", "::1"),
        ])
        .unwrap();
        assert_eq!(
            (c.backend.to_string(), c.listen.to_string()),
            ("192.0.2.1:80".to_string(), "[::1]:8080".to_string())
        );
        let c = cfg(&[
            ("MADISON_BACKEND", "backend.local:8443"),
            ("MADISON_AUTH_KEY", "k"),
            ("MADISON_INSECURE_SKIP_VERIFY", "TRUE"),
        ])
        .unwrap();
        assert_eq!((c.backend.to_string(), c.tls_verify), ("backend.local:8443".to_string(), false));
    }

    #[test]
    fn limits_default_to_the_spec_and_are_settable() {
        let base = [("MADISON_BACKEND", "192.0.2.1:443"), ("MADISON_AUTH_KEY", "k")];
        assert_eq!(cfg(&base).unwrap().limits, Limits::default());
        let mut vars = base.to_vec();
        vars.extend([
            ("MADISON_CONNECT_TIMEOUT", "300ms"),
            ("MADISON_RESPONSE_TIMEOUT", "2s"),
            ("MADISON_EXCHANGE_TIMEOUT", "1m"),
            ("MADISON_IDLE_TIMEOUT", "5s"),
            ("MADISON_ANSWER_LIMIT", "10"),
            ("CLIENT_HEADER_TIMEOUT", "250ms"),
            ("CLIENT_BODY_TIMEOUT", "400ms"),
            ("MAX_CONNECTIONS", "2"),
            ("SHUTDOWN_TIMEOUT", "3s"),
        ]);
        let l = cfg(&vars).unwrap().limits;
        let ms = Duration::from_millis;
        assert_eq!(
            l,
            Limits {
                connect_timeout: ms(300),
                response_timeout: ms(2000),
                exchange_timeout: ms(60_000),
                idle_timeout: ms(5000),
                answer_limit: 10,
                client_header_timeout: ms(250),
                client_body_timeout: ms(400),
                max_connections: 2,
                shutdown_timeout: ms(3000),
            }
        );
        for (var, value) in [
            ("CLIENT_HEADER_TIMEOUT", "10"),
            ("SHUTDOWN_TIMEOUT", "0s"),
            ("MADISON_IDLE_TIMEOUT", "1h"),
            ("MADISON_CONNECT_TIMEOUT", "-5s"),
            ("MADISON_CONNECT_TIMEOUT", "5 s"),
            // Past the one-hour cap, or past u64: refused, never a panic later in hyper or tokio.
            ("CLIENT_HEADER_TIMEOUT", "18446744073709551615s"),
            ("CLIENT_HEADER_TIMEOUT", "18446744073709551616s"),
            ("CLIENT_BODY_TIMEOUT", "18446744073709551615ms"),
            ("MADISON_EXCHANGE_TIMEOUT", "307445734561825861m"), // × 60 overflows u64
            ("MADISON_RESPONSE_TIMEOUT", "3600001ms"),
            ("MADISON_IDLE_TIMEOUT", "3601s"),
            ("SHUTDOWN_TIMEOUT", "61m"),
            ("MAX_CONNECTIONS", "0"),
            ("MAX_CONNECTIONS", "1025"),
            ("MAX_CONNECTIONS", "18446744073709551615"), // would panic in tokio's Semaphore::new
            ("MAX_CONNECTIONS", "-1"),
            ("MADISON_ANSWER_LIMIT", "0"),
            ("MADISON_ANSWER_LIMIT", "1048577"),
            ("MADISON_ANSWER_LIMIT", "99999999999999999999"),
        ] {
            let mut vars = base.to_vec();
            vars.push((var, value));
            let e = cfg(&vars).unwrap_err().to_string();
            assert!(e.starts_with(&format!("{var} {value:?} is invalid")), "{e}");
        }
        // The caps themselves are accepted, in every unit.
        for (value, want) in
            [("3600000ms", MAX_DURATION), ("3600s", MAX_DURATION), ("60m", MAX_DURATION), ("1ms", ms(1))]
        {
            for var in [
                "MADISON_CONNECT_TIMEOUT",
                "MADISON_RESPONSE_TIMEOUT",
                "MADISON_EXCHANGE_TIMEOUT",
                "MADISON_IDLE_TIMEOUT",
                "CLIENT_HEADER_TIMEOUT",
                "CLIENT_BODY_TIMEOUT",
                "SHUTDOWN_TIMEOUT",
            ] {
                let mut vars = base.to_vec();
                vars.push((var, value));
                let l = cfg(&vars).unwrap_or_else(|e| panic!("{var}={value}: {e}")).limits;
                let got = [
                    l.connect_timeout,
                    l.response_timeout,
                    l.exchange_timeout,
                    l.idle_timeout,
                    l.client_header_timeout,
                    l.client_body_timeout,
                    l.shutdown_timeout,
                ];
                assert!(got.contains(&want), "{var}={value}: {l:?}");
            }
        }
        let mut vars = base.to_vec();
        vars.extend([("MAX_CONNECTIONS", "1024"), ("MADISON_ANSWER_LIMIT", "1048576")]);
        let l = cfg(&vars).unwrap().limits;
        assert_eq!((l.max_connections, l.answer_limit), (MAX_CONNECTIONS_LIMIT, MAX_ANSWER_LIMIT));
        assert_eq!((human(ms(10_000)), human(ms(300))), ("10s".to_string(), "300ms".to_string()));
    }

    #[test]
    fn backend_user_info_is_never_echoed() {
        let e = cfg(&[("MADISON_BACKEND", "user:hunter2@proxy host:3128"), ("MADISON_AUTH_KEY", "k")])
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2") && !e.contains("user:"), "{e}");
        assert!(e.contains("<redacted>@proxy host:3128"), "{e}");
    }

    #[test]
    fn invalid_values_name_the_variable_but_never_the_key() {
        let base = [("MADISON_AUTH_KEY", "topsecret")];
        for (var, value) in [
            ("MADISON_BACKEND", "a b:c"),
            ("LISTEN_PORT", "99999"),
            ("MADISON_SCHEME", "ftp"),
            ("LISTEN_HOST", "nowhere"),
        ] {
            let mut vars = base.to_vec();
            if var != "MADISON_BACKEND" {
                vars.push(("MADISON_BACKEND", "192.0.2.1:443"));
            }
            vars.push((var, value));
            let e = cfg(&vars).unwrap_err().to_string();
            assert!(e.starts_with(var) && !e.contains("topsecret"), "{e}");
        }
    }
}
